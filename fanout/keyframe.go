package fanout

import "strings"

// IsKeyframe reports whether an RTP payload starts or carries a keyframe for
// the given codec mime type. It looks only at payload headers, never at the
// whole frame, and answers false for audio and unknown codecs.
func IsKeyframe(mimeType string, payload []byte) bool {
	f := keyframeFunc(mimeType)
	return f != nil && f(payload)
}

// keyframeFunc is the keyframe test of a codec, nil for audio and unknown
// codecs; a track looks it up once rather than per packet.
func keyframeFunc(mimeType string) func([]byte) bool {
	switch {
	case strings.EqualFold(mimeType, "video/H264"):
		return h264Keyframe
	case strings.EqualFold(mimeType, "video/VP8"):
		return vp8Keyframe
	case strings.EqualFold(mimeType, "video/VP9"):
		return vp9Keyframe
	case strings.EqualFold(mimeType, "video/AV1"):
		return av1Keyframe
	case strings.EqualFold(mimeType, "video/H265"):
		return h265Keyframe
	}
	return nil
}

// h264Keyframe looks for an IDR slice or an SPS (RFC 6184 §5.2): a single
// NAL unit, the NAL units of a STAP-A, or the first fragment of an FU-A.
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	isKey := func(t byte) bool { return t == 5 || t == 7 }
	switch t := p[0] & 0x1f; t {
	case 24: // STAP-A: 16-bit size, NAL unit, repeated (§5.7.1)
		for i := 1; i+2 < len(p); {
			n := int(p[i])<<8 | int(p[i+1])
			if n == 0 || i+2+n > len(p) {
				return false
			}
			if isKey(p[i+2] & 0x1f) {
				return true
			}
			i += 2 + n
		}
		return false
	case 28: // FU-A: start bit and original type in the FU header (§5.8)
		return len(p) > 1 && p[1]&0x80 != 0 && isKey(p[1]&0x1f)
	default:
		return isKey(t)
	}
}

// h265Keyframe looks for an IRAP picture (IDR, CRA, BLA: types 16 to 21)
// or a VPS or SPS (RFC 7798 §1.1.4): a single NAL unit, the units of an
// aggregation packet (§4.4.2, without DONL as WebRTC sends it), or the
// first fragment of a fragmentation unit (§4.4.3).
func h265Keyframe(p []byte) bool {
	if len(p) < 3 {
		return false
	}
	isKey := func(t byte) bool { return (t >= 16 && t <= 21) || t == 32 || t == 33 }
	switch t := p[0] >> 1 & 0x3f; t {
	case 48: // AP: 16-bit size, NAL unit (2-byte header first), repeated
		for i := 2; i+3 < len(p); {
			n := int(p[i])<<8 | int(p[i+1])
			if n < 2 || i+2+n > len(p) {
				return false
			}
			if isKey(p[i+2] >> 1 & 0x3f) {
				return true
			}
			i += 2 + n
		}
		return false
	case 49: // FU: start bit and original type in the FU header
		return p[2]&0x80 != 0 && isKey(p[2]&0x3f)
	default:
		return isKey(t)
	}
}

// vp8Keyframe parses the payload descriptor (RFC 7741 §4.2) and, on the first
// partition's start, the frame tag's inverted key-frame bit (RFC 6386 §9.1).
func vp8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if x {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id, 7 or 15 bits
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/KEYIDX byte
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}

// vp9Keyframe: the descriptor's P bit (inter-picture predicted) is clear on
// the start of a frame (B) in a keyframe (draft-ietf-payload-vp9 §4.2).
func vp9Keyframe(p []byte) bool {
	return len(p) > 0 && p[0]&0x40 == 0 && p[0]&0x08 != 0
}

// av1Keyframe: the aggregation header's N bit marks the first packet of a
// new coded video sequence, which starts with a keyframe (AV1 RTP spec §4.4).
func av1Keyframe(p []byte) bool {
	return len(p) > 0 && p[0]&0x08 != 0
}
