package rtc

import (
	"testing"

	"github.com/pion/sdp/v3"

	"github.com/relaymesh/relaymesh/internal/codec"
)

func media(t testing.TB, s string) *sdp.MediaDescription {
	var d sdp.SessionDescription
	if err := d.UnmarshalString("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" + s); err != nil {
		t.Fatal(err)
	}
	return d.MediaDescriptions[0]
}

func TestOfferedCodecsAndCompatible(t *testing.T) {
	m := media(t, "m=video 9 UDP/TLS/RTP/SAVPF 96 102 45\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n"+
		"a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\na=rtcp-fb:102 nack pli\r\n"+
		"a=rtpmap:45 AV1/90000\r\na=rtcp-fb:* ccm fir\r\n")
	got := OfferedCodecs(m)
	if len(got) != 3 || got[1].MimeType != "video/H264" || !got[1].PLI || !got[0].FIR || got[0].PLI {
		t.Fatalf("parsed %+v", got)
	}
	cases := []struct {
		name string
		o    Offered
		mime string
		fmtp string
		ok   bool
	}{
		{"same h264 other level", got[1], "video/H264", "packetization-mode=1;profile-level-id=42e034", true},
		{"h264 other profile", got[1], "video/H264", "packetization-mode=1;profile-level-id=640c1f", false},
		{"h264 mode 0", Offered{MimeType: "video/H264", Clock: 90000, Fmtp: "profile-level-id=42e01f"}, "video/H264", "packetization-mode=1;profile-level-id=42e01f", false},
		{"vp8", got[0], "video/vp8", "", true},
		{"vp8 vs av1", got[2], "video/VP8", "", false},
		{"vp9 profiles", Offered{MimeType: "video/VP9", Clock: 90000, Fmtp: "profile-id=2"}, "video/VP9", "profile-id=0", false},
		{"h265 other level", Offered{MimeType: "video/H265", Clock: 90000, Fmtp: "level-id=180;profile-id=1;tier-flag=0;tx-mode=SRST"}, "video/H265", "level-id=93;profile-id=1", true},
		{"h265 defaults", Offered{MimeType: "video/H265", Clock: 90000}, "video/H265", "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST", true},
		{"h265 main 10", Offered{MimeType: "video/H265", Clock: 90000, Fmtp: "profile-id=2"}, "video/H265", "profile-id=1", false},
		{"h265 high tier", Offered{MimeType: "video/H265", Clock: 90000, Fmtp: "tier-flag=1"}, "video/H265", "profile-id=1", false},
	}
	for _, c := range cases {
		if codec.Compatible(c.o.Codec(), codec.Codec{MimeType: c.mime, ClockRate: 90000, Fmtp: c.fmtp}) != c.ok {
			t.Errorf("%s: Compatible = %v", c.name, !c.ok)
		}
	}
}

func FuzzOfferedCodecs(f *testing.F) {
	f.Add("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		var d sdp.SessionDescription
		if d.UnmarshalString("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"+s) != nil || len(d.MediaDescriptions) == 0 {
			return
		}
		for _, o := range OfferedCodecs(d.MediaDescriptions[0]) {
			_ = codec.Compatible(o.Codec(), codec.H264("42e01f"))
		}
	})
}
