package recorder

import (
	"bytes"
	"errors"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/pion/rtp"
	rtpcodecs "github.com/pion/rtp/codecs"
)

// vp9Conv stores VP9 frames as they are (VP codec ISO-BMFF binding); the
// sample entry's size, profile and colour come from the first keyframe's
// uncompressed header.
type vp9Conv struct{ c *codecs.VP9 }

func (v *vp9Conv) sample(frame []byte, pts int64) ([]byte, bool, int64, bool) {
	if len(frame) == 0 {
		return nil, false, 0, false
	}
	key := vp9.IsRandomAccess(frame)
	if key && v.c == nil {
		var h vp9.Header
		if err := h.Unmarshal(frame); err == nil && h.ColorConfig != nil && h.FrameSize != nil {
			v.c = &codecs.VP9{Width: h.Width(), Height: h.Height(), Profile: h.Profile,
				BitDepth: h.ColorConfig.BitDepth, ChromaSubsampling: h.ChromaSubsampling(), ColorRange: h.ColorConfig.ColorRange}
		}
	}
	return frame, key, pts, true
}

func (v *vp9Conv) codec() codecs.Codec {
	if v.c == nil {
		return nil
	}
	return v.c
}

func (v *vp9Conv) depacketizer() rtp.Depacketizer { return &rtpcodecs.VP9Packet{} }
func (v *vp9Conv) name() string                   { return "VP9" }

// av1Conv stores temporal units without their temporal delimiters (AV1
// ISO-BMFF binding §2.4); the sample entry carries the sequence header.
type av1Conv struct{ seq []byte }

func (a *av1Conv) sample(data []byte, pts int64) ([]byte, bool, int64, bool) {
	var tu av1.Bitstream
	if err := tu.Unmarshal(data); err != nil {
		return nil, false, 0, false
	}
	kept := tu[:0]
	for _, obu := range tu {
		var h av1.OBUHeader
		if h.Unmarshal(obu) != nil {
			continue
		}
		switch h.Type {
		case av1.OBUTypeTemporalDelimiter, av1.OBUTypePadding:
			continue
		case av1.OBUTypeSequenceHeader:
			if a.seq == nil {
				a.seq = append([]byte(nil), obu...)
			}
		}
		kept = append(kept, obu)
	}
	if len(kept) == 0 {
		return nil, false, 0, false
	}
	b, err := av1.Bitstream(kept).Marshal()
	if err != nil {
		return nil, false, 0, false
	}
	return b, av1.IsRandomAccess2(kept), pts, true
}

func (a *av1Conv) codec() codecs.Codec {
	if a.seq == nil {
		return nil
	}
	return &codecs.AV1{SequenceHeader: a.seq}
}

func (a *av1Conv) depacketizer() rtp.Depacketizer { return &rtpcodecs.AV1Depacketizer{} }
func (a *av1Conv) name() string                   { return "AV1" }

// vp8Conv stores VP8 frames in the VP codec ISO-BMFF binding's 'vp08'
// sample entry, which has the same configuration box (vpcC) as 'vp09':
// the init segment is written as VP9 profile 0, 8-bit 4:2:0, and its
// sample entry renamed (patchInit), so VP8 recordings play like the rest.
type vp8Conv struct{ c *codecs.VP9 }

func (v *vp8Conv) sample(frame []byte, pts int64) ([]byte, bool, int64, bool) {
	if len(frame) < 3 {
		return nil, false, 0, false
	}
	key := frame[0]&1 == 0 // RFC 6386 §9.1: frame tag, P bit clear
	if key && v.c == nil && len(frame) >= 10 && frame[3] == 0x9d && frame[4] == 0x01 && frame[5] == 0x2a {
		w := int(frame[6]) | int(frame[7]&0x3f)<<8
		h := int(frame[8]) | int(frame[9]&0x3f)<<8
		v.c = &codecs.VP9{Width: w, Height: h, Profile: 0, BitDepth: 8, ChromaSubsampling: 1}
	}
	return frame, key, pts, true
}

func (v *vp8Conv) codec() codecs.Codec {
	if v.c == nil {
		return nil
	}
	return v.c
}

// patchInit renames the sample entry from 'vp09' to 'vp08'.
func (v *vp8Conv) patchInit(init []byte) []byte {
	return bytes.Replace(init, []byte("vp09"), []byte("vp08"), 1)
}

// ParseInit reads an init segment this package wrote. mediacommon does not
// know the 'vp08' sample entry of VP8 recordings, so it is read as the
// 'vp09' it was written as; vp8 says the recording's VP9 track is VP8.
func ParseInit(raw []byte) (init *fmp4.Init, vp8 bool, err error) {
	if bytes.Contains(raw, []byte("vp08")) {
		raw, vp8 = bytes.Replace(bytes.Clone(raw), []byte("vp08"), []byte("vp09"), 1), true
	}
	init = &fmp4.Init{}
	if err := init.Unmarshal(bytes.NewReader(raw)); err != nil {
		return nil, false, err
	}
	if len(init.Tracks) == 0 {
		return nil, false, errors.New("an init segment without tracks")
	}
	return init, vp8, nil
}

func (v *vp8Conv) depacketizer() rtp.Depacketizer { return &rtpcodecs.VP8Packet{} }
func (v *vp8Conv) name() string                   { return "VP8" }
