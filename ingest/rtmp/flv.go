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
	keyframe bool
	header   bool  // an AVCDecoderConfigurationRecord
	cts      int32 // composition time offset, ms
	data     []byte
}

var errNotAVC = errors.New("not AVC")

// parseVideo reads a video tag; errNotAVC for other codecs (Enhanced RTMP's
// FourCC tags included, which are not read yet).
func parseVideo(b []byte) (videoTag, error) {
	if len(b) < 1 {
		return videoTag{}, errors.New("empty video tag")
	}
	if b[0]&0x80 != 0 {
		fourcc := "?"
		if len(b) >= 5 {
			fourcc = string(b[1:5])
		}
		return videoTag{}, fmt.Errorf("%w: Enhanced RTMP video %q", errNotAVC, fourcc)
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
		return videoTag{keyframe: b[0]>>4 == frameKeyframe, header: b[1] == avcSeqHeader, cts: cts, data: b[5:]}, nil
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

// audioTag is a parsed AAC audio tag.
type audioTag struct {
	header bool // an AudioSpecificConfig
	data   []byte
}

var errNotAAC = errors.New("not AAC")

func parseAudio(b []byte) (audioTag, error) {
	if len(b) < 2 {
		return audioTag{}, errors.New("short audio tag")
	}
	if f := b[0] >> 4; f != soundAAC {
		return audioTag{}, fmt.Errorf("%w: FLV sound format %d", errNotAAC, f)
	}
	return audioTag{header: b[1] == aacSeqHeader, data: b[2:]}, nil
}
