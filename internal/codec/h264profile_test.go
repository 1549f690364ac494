package codec

import "testing"

func TestH264ProfileLevelID(t *testing.T) {
	for _, c := range []struct {
		sps  []byte
		want string
	}{
		{[]byte{0x67, 0x42, 0xc0, 0x0d}, "42e01f"}, // ffmpeg's constrained baseline
		{[]byte{0x67, 0x42, 0xe0, 0x1f}, "42e01f"},
		{[]byte{0x67, 0x4d, 0x80, 0x28}, "42e01f"}, // main with set0: constrained baseline
		{[]byte{0x67, 0x42, 0x00, 0x1e}, "42001f"},
		{[]byte{0x67, 0x4d, 0x40, 0x28}, "4d001f"},
		{[]byte{0x67, 0x64, 0x00, 0x33}, "64001f"},
		{[]byte{0x67, 0x64, 0x0c, 0x2a}, "640c1f"},
		{[]byte{0x67, 0x7a, 0x00, 0x28}, "7a0028"}, // high 4:2:2: as it is
		{nil, "42e01f"},
	} {
		if got := H264ProfileLevelID(c.sps); got != c.want {
			t.Errorf("SPS %x: %s, want %s", c.sps, got, c.want)
		}
	}
}
