package codec

import "testing"

func TestIsKeyframe(t *testing.T) {
	cases := []struct {
		name  string
		mime  string
		p     []byte
		isKey bool
	}{
		{"h264 idr", "video/H264", []byte{0x65, 0x88}, true},
		{"h264 sps", "video/h264", []byte{0x67, 0x42}, true},
		{"h264 non-idr", "video/H264", []byte{0x41, 0x9a}, false},
		{"h264 stap-a sps", "video/H264", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68}, true},
		{"h264 stap-a truncated", "video/H264", []byte{0x78, 0x00, 0x09, 0x67}, false},
		{"h264 fu-a idr start", "video/H264", []byte{0x7c, 0x85, 0x00}, true},
		{"h264 fu-a idr middle", "video/H264", []byte{0x7c, 0x05, 0x00}, false},
		{"vp8 key", "video/VP8", []byte{0x10, 0x00}, true},
		{"vp8 delta", "video/VP8", []byte{0x10, 0x01}, false},
		{"vp8 key with picture id", "video/VP8", []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
		{"vp8 continuation", "video/VP8", []byte{0x00, 0x00}, false},
		{"vp9 key", "video/VP9", []byte{0x08}, true},
		{"vp9 inter", "video/VP9", []byte{0x48}, false},
		{"av1 new sequence", "video/AV1", []byte{0x18}, true},
		{"av1 other", "video/AV1", []byte{0x10}, false},
		{"h265 idr", "video/H265", []byte{0x26, 0x01, 0xaf}, true},
		{"h265 cra", "video/h265", []byte{0x2a, 0x01, 0xaf}, true},
		{"h265 trail", "video/H265", []byte{0x02, 0x01, 0xd0}, false},
		{"h265 ap vps", "video/H265", []byte{0x60, 0x01, 0x00, 0x03, 0x40, 0x01, 0x0c, 0x00, 0x02, 0x44, 0x01}, true},
		{"h265 ap pps only", "video/H265", []byte{0x60, 0x01, 0x00, 0x02, 0x44, 0x01, 0x00, 0x02, 0x4e, 0x01}, false},
		{"h265 ap truncated", "video/H265", []byte{0x60, 0x01, 0x00, 0x09, 0x40, 0x01}, false},
		{"h265 fu idr start", "video/H265", []byte{0x62, 0x01, 0x93, 0xaf}, true},
		{"h265 fu idr middle", "video/H265", []byte{0x62, 0x01, 0x13, 0xaf}, false},
		{"opus", "audio/opus", []byte{0xff}, false},
		{"empty", "video/H264", nil, false},
	}
	for _, c := range cases {
		if got := IsKeyframe(c.mime, c.p); got != c.isKey {
			t.Errorf("%s: IsKeyframe = %v, want %v", c.name, got, c.isKey)
		}
	}
}

func FuzzIsKeyframe(f *testing.F) {
	f.Add("video/H264", []byte{0x78, 0x00, 0x02, 0x67, 0x42})
	f.Add("video/VP8", []byte{0x90, 0x80, 0x81})
	f.Add("video/H265", []byte{0x60, 0x01, 0x00, 0x03, 0x40, 0x01, 0x0c})
	f.Fuzz(func(t *testing.T, mime string, p []byte) {
		_ = IsKeyframe(mime, p)
	})
}
