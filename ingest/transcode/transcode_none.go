//go:build !transcode || !cgo

package transcode

const available = false

// New fails: this build has no transcoder.
func New(Params) (AACToOpus, error) { return nil, ErrUnavailable }
