package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// FLV tag bodies as RTMP carries them (Adobe FLV spec v10.1, annex E.4.2
// and E.4.3). Only what reaches WebRTC viewers is read: AVC video, AAC
// audio; anything else is reported so the publisher can be told.

const (
	codecAVC      = 7
	soundAAC      = 10
	avcSeqHeader  = 0
	avcNALU       = 1
	aacSeqHeader  = 0
	aacRaw        = 1
	frameKeyframe = 1
)

// videoTag is a parsed video tag.
type videoTag struct {
	codec    string // "avc1", or an Enhanced RTMP FourCC: "av01", "vp09"
	keyframe bool
	header   bool  // codec configuration (AVCDecoderConfigurationRecord…)
	cts      int32 // composition time offset, ms
	data     []byte
}

var errNotAVC = errors.New("not a video codec WebRTC viewers take")

// Enhanced RTMP packet types (veovera E-RTMP v1, "ExVideoTagHeader").
const (
	exSequenceStart   = 0
	exCodedFrames     = 1
	exSequenceEnd     = 2
	exCodedFramesX    = 3
	exMetadata        = 4
	exMPEG2TSSequence = 5
)

// parseVideo reads a video tag: legacy AVC, or Enhanced RTMP's AV1, VP9
// and HEVC (by FourCC); errNotAVC for codecs WebRTC viewers cannot take.
func parseVideo(b []byte) (videoTag, error) {
	if len(b) < 1 {
		return videoTag{}, errors.New("empty video tag")
	}
	if b[0]&0x80 != 0 {
		if len(b) < 5 {
			return videoTag{}, fmt.Errorf("an Enhanced RTMP video tag of %d bytes", len(b))
		}
		fourcc := string(b[1:5])
		if fourcc != "av01" && fourcc != "vp09" && fourcc != "hvc1" {
			return videoTag{}, fmt.Errorf("%w: Enhanced RTMP video %q", errNotAVC, fourcc)
		}
		tag := videoTag{codec: fourcc, keyframe: (b[0]>>4)&0x07 == frameKeyframe}
		switch b[0] & 0x0f {
		case exSequenceStart:
			tag.header, tag.data = true, b[5:]
		case exCodedFrames:
			if fourcc != "hvc1" {
				tag.data = b[5:] // AV1 and VP9 carry no composition time
				break
			}
			if len(b) < 8 {
				return videoTag{}, fmt.Errorf("an Enhanced RTMP HEVC frame of %d bytes", len(b))
			}
			tag.cts = int32(uint32(b[5])<<16|uint32(b[6])<<8|uint32(b[7])) << 8 >> 8 // signed 24 bits
			tag.data = b[8:]
		case exCodedFramesX: // frames whose composition time is zero
			tag.data = b[5:]
		}
		return tag, nil
	}
	if id := b[0] & 0x0f; id != codecAVC {
		return videoTag{}, fmt.Errorf("%w: FLV video codec %d", errNotAVC, id)
	}
	if len(b) < 5 {
		return videoTag{}, fmt.Errorf("AVC video tag of %d bytes", len(b))
	}
	cts := int32(uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4])) << 8 >> 8 // signed 24 bits
	switch b[1] {
	case avcSeqHeader, avcNALU:
		return videoTag{codec: "avc1", keyframe: b[0]>>4 == frameKeyframe, header: b[1] == avcSeqHeader, cts: cts, data: b[5:]}, nil
	}
	return videoTag{}, nil // end of sequence: nothing to do
}

// avcConfig reads the SPS and PPS of an AVCDecoderConfigurationRecord
// (ISO 14496-15 §5.2.4.1) and its NAL unit length size.
func avcConfig(b []byte) (sps, pps []byte, lengthSize int, err error) {
	if len(b) < 7 || b[0] != 1 {
		return nil, nil, 0, errors.New("not an AVCDecoderConfigurationRecord")
	}
	lengthSize = int(b[4]&0x03) + 1
	n := int(b[5] & 0x1f)
	p := 6
	read := func() ([]byte, error) {
		if p+2 > len(b) {
			return nil, errors.New("truncated AVC configuration")
		}
		l := int(binary.BigEndian.Uint16(b[p:]))
		if p+2+l > len(b) || l == 0 {
			return nil, errors.New("truncated AVC configuration")
		}
		v := b[p+2 : p+2+l]
		p += 2 + l
		return v, nil
	}
	for i := 0; i < n; i++ {
		v, err := read()
		if err != nil {
			return nil, nil, 0, err
		}
		if sps == nil {
			sps = v
		}
	}
	if p >= len(b) {
		return nil, nil, 0, errors.New("AVC configuration without PPS")
	}
	m := int(b[p])
	p++
	for i := 0; i < m; i++ {
		v, err := read()
		if err != nil {
			return nil, nil, 0, err
		}
		if pps == nil {
			pps = v
		}
	}
	if sps == nil || pps == nil {
		return nil, nil, 0, errors.New("AVC configuration without SPS or PPS")
	}
	return sps, pps, lengthSize, nil
}

// hevcConfig reads the VPS, SPS and PPS of an HEVCDecoderConfigurationRecord
// (ISO 14496-15 §8.3.3.1) and its NAL unit length size.
func hevcConfig(b []byte) (vps, sps, pps []byte, lengthSize int, err error) {
	if len(b) < 23 || b[0] != 1 {
		return nil, nil, nil, 0, errors.New("not an HEVCDecoderConfigurationRecord")
	}
	lengthSize = int(b[21]&0x03) + 1
	arrays, p := int(b[22]), 23
	for i := 0; i < arrays; i++ {
		if p+3 > len(b) {
			return nil, nil, nil, 0, errors.New("truncated HEVC configuration")
		}
		typ, n := b[p]&0x3f, int(binary.BigEndian.Uint16(b[p+1:]))
		p += 3
		for j := 0; j < n; j++ {
			if p+2 > len(b) {
				return nil, nil, nil, 0, errors.New("truncated HEVC configuration")
			}
			l := int(binary.BigEndian.Uint16(b[p:]))
			if l < 2 || p+2+l > len(b) {
				return nil, nil, nil, 0, errors.New("truncated HEVC configuration")
			}
			v := b[p+2 : p+2+l]
			p += 2 + l
			switch {
			case typ == 32 && vps == nil:
				vps = v
			case typ == 33 && sps == nil:
				sps = v
			case typ == 34 && pps == nil:
				pps = v
			}
		}
	}
	if vps == nil || sps == nil || pps == nil {
		return nil, nil, nil, 0, errors.New("HEVC configuration without VPS, SPS or PPS")
	}
	return vps, sps, pps, lengthSize, nil
}

// splitNALUs splits length-prefixed NAL units.
func splitNALUs(b []byte, lengthSize int) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < lengthSize {
			return nil, errors.New("truncated NAL unit length")
		}
		var n int
		for i := 0; i < lengthSize; i++ {
			n = n<<8 | int(b[i])
		}
		b = b[lengthSize:]
		if n > len(b) || n == 0 {
			return nil, fmt.Errorf("NAL unit of %d bytes in %d", n, len(b))
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out, nil
}

// audioTag is a parsed audio tag: AAC, or Enhanced RTMP's Opus.
type audioTag struct {
	opus   bool
	header bool // an AudioSpecificConfig (AAC), an OpusHead (Opus)
	data   []byte
}

var errNotAAC = errors.New("not an audio codec relaymesh takes from RTMP")

// soundExHeader marks Enhanced RTMP audio (E-RTMP v2, ExAudioTagHeader).
const soundExHeader = 9

func parseAudio(b []byte) (audioTag, error) {
	if len(b) < 2 {
		return audioTag{}, errors.New("short audio tag")
	}
	switch f := b[0] >> 4; f {
	case soundAAC:
		return audioTag{header: b[1] == aacSeqHeader, data: b[2:]}, nil
	case soundExHeader:
		if len(b) < 5 {
			return audioTag{}, fmt.Errorf("an Enhanced RTMP audio tag of %d bytes", len(b))
		}
		if fourcc := string(b[1:5]); fourcc != "Opus" {
			return audioTag{}, fmt.Errorf("%w: Enhanced RTMP audio %q", errNotAAC, fourcc)
		}
		switch b[0] & 0x0f {
		case exSequenceStart:
			return audioTag{opus: true, header: true, data: b[5:]}, nil
		case exCodedFrames:
			return audioTag{opus: true, data: b[5:]}, nil
		}
		return audioTag{opus: true}, nil
	default:
		return audioTag{}, fmt.Errorf("%w: FLV sound format %d", errNotAAC, f)
	}
}
