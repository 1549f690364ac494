package rtmp

import (
	"errors"
	"time"
)

// The pushed path: go-rtmp hands over FLV tag bodies (FLV specification
// 10.1, E.4.3; Enhanced RTMP's ExVideoTagHeader and ExAudioTagHeader),
// which are parsed here and handed to the publisher's frame path.

// video takes one FLV video tag at ts (milliseconds).
func (p *publisher) video(ts uint32, b []byte) {
	tag, err := parseVideo(b)
	if errors.Is(err, errNotAVC) {
		p.warn("vcodec", "rtmp video dropped: H.264, HEVC, AV1 and VP9 reach WebRTC viewers from RTMP", "err", err)
		return
	}
	if err != nil {
		p.warn("vtag", "rtmp video tag unreadable", "err", err)
		return
	}
	pts := time.Duration(int64(ts)+int64(tag.cts)) * time.Millisecond
	switch tag.codec {
	case "av01", "vp09":
		if tag.header {
			p.enhancedConfig(tag.codec)
			return
		}
		p.enhancedFrame(pts, tag.data)
		return
	case "hvc1":
		if tag.header {
			vps, sps, pps, ls, err := hevcConfig(tag.data)
			if err != nil {
				p.warn("vconf", "rtmp HEVC configuration unreadable", "err", err)
				return
			}
			p.lengthSize = ls
			p.h265Config(vps, sps, pps)
			return
		}
	default:
		if tag.header {
			sps, pps, ls, err := avcConfig(tag.data)
			if err != nil {
				p.warn("vconf", "rtmp AVC configuration unreadable", "err", err)
				return
			}
			p.lengthSize = ls
			p.h264Config(sps, pps)
			return
		}
	}
	if p.vtrack == nil || len(tag.data) == 0 {
		return // coded frames before the configuration cannot be decoded
	}
	nalus, err := splitNALUs(tag.data, p.lengthSize)
	if err != nil {
		p.warn("vnalu", "rtmp video frame unreadable", "err", err)
		return
	}
	if tag.codec == "hvc1" {
		p.h265(pts, tag.keyframe, nalus)
	} else {
		p.h264(pts, tag.keyframe, nalus)
	}
}

// audio takes one FLV audio tag at ts (milliseconds).
func (p *publisher) audio(ts uint32, b []byte) {
	tag, err := parseAudio(b)
	if errors.Is(err, errNotAAC) {
		p.warn("acodec", "rtmp audio dropped: only AAC (transcoded to Opus) is taken from RTMP", "err", err)
		return
	}
	if err != nil {
		p.warn("atag", "rtmp audio tag unreadable", "err", err)
		return
	}
	pts := time.Duration(ts) * time.Millisecond
	switch {
	case tag.opus && tag.header:
		p.openOpus()
	case tag.opus:
		p.opus(pts, tag.data)
	case tag.header:
		p.aacConfig(tag.data)
	default:
		p.aacAU(pts, tag.data)
	}
}
