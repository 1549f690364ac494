package codec

import "strings"

// IsKeyframe reports whether an RTP payload starts or carries a keyframe for
// the given codec mime type. It looks only at payload headers, never at the
// whole frame, and answers false for audio and unknown codecs.
func IsKeyframe(mimeType string, payload []byte) bool {
	f := KeyframeFunc(mimeType)
	return f != nil && f(payload)
}

// KeyframeFunc is the keyframe test of a codec, nil for audio and unknown
// codecs; a track looks it up once rather than per packet.
func KeyframeFunc(mimeType string) func([]byte) bool {
	switch {
	case strings.EqualFold(mimeType, "video/H264"):
		return h264Syntax.keyframe
	case strings.EqualFold(mimeType, "video/VP8"):
		return vp8Keyframe
	case strings.EqualFold(mimeType, "video/VP9"):
		return vp9Keyframe
	case strings.EqualFold(mimeType, "video/AV1"):
		return av1Keyframe
	case strings.EqualFold(mimeType, "video/H265"):
		return h265Syntax.keyframe
	}
	return nil
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
