package recorder

import (
	"bytes"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/pion/rtp"
	rtpcodecs "github.com/pion/rtp/codecs"
)

// h265Conv stores access units as length-prefixed hvc1 samples (ISO
// 14496-15 §8) with the init segment's VPS, SPS and PPS taken from the
// stream, which carries them in-band before every IRAP picture (ingest puts
// them there for RTSP and RTMP sources). Decode times come from the
// pictures' order counts, as for H.264, for sources with B-frames.
type h265Conv struct {
	vps, sps, pps []byte
	dtsx          *h265.DTSExtractor
	lastDTS       int64
}

func (h *h265Conv) sample(au []byte, pts int64) ([]byte, bool, int64, bool) {
	var nalus h264.AnnexB // Annex B framing is the same for both codecs
	if err := nalus.Unmarshal(au); err != nil || len(nalus) == 0 {
		return nil, false, 0, false
	}
	for _, n := range nalus {
		if len(n) < 2 {
			continue
		}
		switch h265.NALUType(n[0] >> 1 & 0x3f) {
		case h265.NALUType_VPS_NUT:
			if h.vps == nil {
				h.vps = bytes.Clone(n)
			}
		case h265.NALUType_SPS_NUT:
			if h.sps == nil {
				h.sps = bytes.Clone(n)
			}
		case h265.NALUType_PPS_NUT:
			if h.pps == nil {
				h.pps = bytes.Clone(n)
			}
		}
	}
	if h.dtsx == nil {
		h.dtsx = &h265.DTSExtractor{}
		h.dtsx.Initialize()
	}
	return nalSample(nalus, pts, h.dtsx.Extract, &h.lastDTS, h265.IsRandomAccess(nalus))
}

func (h *h265Conv) codec() codecs.Codec {
	if h.vps == nil || h.sps == nil || h.pps == nil {
		return nil
	}
	return &codecs.H265{VPS: h.vps, SPS: h.sps, PPS: h.pps}
}

func (h *h265Conv) depacketizer() rtp.Depacketizer { return &rtpcodecs.H265Depacketizer{} }
func (h *h265Conv) name() string                   { return "H265" }
