package codec

import "fmt"

// H264ProfileLevelID names an H.264 stream, from its SPS, the way WebRTC
// peers offer it, so that viewers negotiate it. Peers match the first two
// bytes of profile-level-id exactly (profile_idc and the constraint
// flags), but encoders outside WebRTC spell the same profile in several
// ways: ffmpeg's constrained baseline is 42c0xx, browsers offer 42e01f.
// The profile is classified as libwebrtc does (RFC 6184 §8.1, Table 5)
// and given the browsers' spelling; the level part is left at 3.1, which
// level-asymmetry-allowed makes a non-issue. An unknown profile keeps the
// SPS's own bytes.
func H264ProfileLevelID(sps []byte) string {
	if len(sps) < 4 {
		return "42e01f"
	}
	idc, iop := sps[1], sps[2]
	match := func(pattern string) bool {
		for i, c := range pattern {
			bit := iop>>(7-i)&1 == 1
			if (c == '1' && !bit) || (c == '0' && bit) {
				return false
			}
		}
		return true
	}
	switch {
	case idc == 0x42 && match("x1xx0000"), idc == 0x4d && match("1xxx0000"), idc == 0x58 && match("11xx0000"):
		return "42e01f" // constrained baseline
	case idc == 0x42 && match("x0xx0000"), idc == 0x58 && match("10xx0000"):
		return "42001f" // baseline
	case idc == 0x4d && match("0x0x0000"):
		return "4d001f" // main
	case idc == 0x64 && match("00000000"):
		return "64001f" // high
	case idc == 0x64 && match("00001100"):
		return "640c1f" // constrained high
	}
	return fmt.Sprintf("%02x%02x%02x", sps[1], sps[2], sps[3])
}
