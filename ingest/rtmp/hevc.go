package rtmp

import (
	"bytes"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest"
)

// hevc takes Enhanced RTMP's HEVC (OBS 30+, ffmpeg 6.1+) as the AVC path
// takes H.264: the configuration record gives the parameter sets, which go
// in-band before every keyframe that lacks them (a viewer joining there
// needs them, RFC 7798 §7.2), and frames go to RTP at their presentation
// time. Viewers that decode H.265 get it; others are told the codec.
func (p *publisher) hevc(ts uint32, tag videoTag) {
	if tag.header {
		vps, sps, pps, ls, err := hevcConfig(tag.data)
		if err != nil {
			p.warn("vconf", "rtmp HEVC configuration unreadable", "err", err)
			return
		}
		p.vps, p.sps, p.pps, p.lengthSize = bytes.Clone(vps), bytes.Clone(sps), bytes.Clone(pps), ls
		if p.vtrack == nil {
			p.vtrack = p.pub.Track(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo,
				Codec: fanout.Codec{MimeType: "video/H265", ClockRate: 90000, Fmtp: ingest.H265Fmtp(sps)}})
			p.vpk = rtp.NewPacketizer(1200, 96, 0x1a2b3c4d, &codecs.H265Payloader{}, rtp.NewRandomSequencer(), 90000)
		}
		return
	}
	if p.vtrack == nil || p.vps == nil || len(tag.data) == 0 {
		return // coded frames before the configuration cannot be decoded
	}
	p.nalFrame(ts, tag, hasVPS, p.vps, p.sps, p.pps)
}

func hasVPS(nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) > 0 && n[0]>>1&0x3f == 32 {
			return true
		}
	}
	return false
}
