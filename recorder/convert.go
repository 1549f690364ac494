package recorder

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/pion/rtp"
	rtpcodecs "github.com/pion/rtp/codecs"

	"github.com/relaymesh/relaymesh/fanout"
)

// converter turns a codec's depacketized access units into MP4 samples.
type converter interface {
	// sample converts one access unit presented at pts; dts is its decode
	// time (pts, unless the codec reorders frames); ok is false when it
	// cannot be stored (nothing decodable in it).
	sample(au []byte, pts int64) (payload []byte, key bool, dts int64, ok bool)
	// codec is the sample entry of the init segment, nil until known (H.264
	// needs its SPS and PPS first).
	codec() codecs.Codec
	depacketizer() rtp.Depacketizer
	name() string
}

// newConverter picks the converter for a track, or says why the codec
// cannot be recorded into MP4.
func newConverter(c fanout.Codec) (converter, error) {
	switch {
	case strings.EqualFold(c.MimeType, "video/H264"):
		return &h264Conv{}, nil
	case strings.EqualFold(c.MimeType, "video/H265"):
		return &h265Conv{}, nil
	case strings.EqualFold(c.MimeType, "video/VP8"):
		return &vp8Conv{}, nil
	case strings.EqualFold(c.MimeType, "video/VP9"):
		return &vp9Conv{}, nil
	case strings.EqualFold(c.MimeType, "video/AV1"):
		return &av1Conv{}, nil
	case strings.EqualFold(c.MimeType, "audio/opus"):
		return &opusConv{channels: max(int(c.Channels), 2)}, nil
	}
	return nil, fmt.Errorf("%s cannot be recorded yet (H.264, H.265, VP8, VP9, AV1 and Opus can)", c.MimeType)
}

// h264Conv stores access units as AVCC samples (ISO 14496-15) and takes
// the init segment's SPS and PPS from the stream itself, since WebRTC
// carries them in-band before every IDR. They stay in the samples too, so
// a resolution change mid-stream decodes. Sources with B-frames (RTMP from
// an encoder's defaults, some cameras) send frames in decode order with
// presentation timestamps: the decode times come from the pictures' order
// counts (mediacommon's DTS extractor).
type h264Conv struct {
	sps, pps []byte
	dtsx     *h264.DTSExtractor
	lastDTS  int64
}

func (h *h264Conv) sample(au []byte, pts int64) ([]byte, bool, int64, bool) {
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(au); err != nil || len(nalus) == 0 {
		return nil, false, 0, false
	}
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			if h.sps == nil {
				h.sps = bytes.Clone(n)
			}
		case h264.NALUTypePPS:
			if h.pps == nil {
				h.pps = bytes.Clone(n)
			}
		}
	}
	if h.dtsx == nil {
		h.dtsx = &h264.DTSExtractor{}
		h.dtsx.Initialize()
	}
	return nalSample(nalus, pts, h.dtsx.Extract, &h.lastDTS, h264.IsRandomAccess(nalus))
}

// nalSample is what H.264 and H.265 samples share: length-prefixed NAL
// units (ISO 14496-15), and a decode time from the codec's extractor or,
// for a picture it cannot place, the next in decode order.
func nalSample(nalus [][]byte, pts int64, extract func([][]byte, int64) (int64, error), lastDTS *int64, key bool) ([]byte, bool, int64, bool) {
	b, err := h264.AVCC(nalus).Marshal()
	if err != nil {
		return nil, false, 0, false
	}
	dts, err := extract(nalus, pts)
	if err != nil || dts > pts {
		dts = min(pts, *lastDTS+1)
	}
	*lastDTS = dts
	return b, key, dts, true
}

func (h *h264Conv) codec() codecs.Codec {
	if h.sps == nil || h.pps == nil {
		return nil
	}
	return &codecs.H264{SPS: h.sps, PPS: h.pps}
}

func (h *h264Conv) depacketizer() rtp.Depacketizer { return &rtpcodecs.H264Packet{} }
func (h *h264Conv) name() string                   { return "H264" }

// opusConv stores Opus packets as they are (one packet, one sample).
type opusConv struct{ channels int }

func (o *opusConv) sample(au []byte, pts int64) ([]byte, bool, int64, bool) {
	return au, true, pts, len(au) > 0
}
func (o *opusConv) codec() codecs.Codec            { return &codecs.Opus{ChannelCount: o.channels} }
func (o *opusConv) depacketizer() rtp.Depacketizer { return &rtpcodecs.OpusPacket{} }
func (o *opusConv) name() string                   { return "opus" }
