//go:build !transcode

package nodeproc

const buildTags = ""
