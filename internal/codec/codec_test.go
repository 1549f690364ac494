package codec

import "testing"

func TestInterchangeable(t *testing.T) {
	for _, c := range []struct {
		a, b Codec
		want bool
	}{
		{H264("42e01f"), H264("42e01f"), true},
		{H264("42e01f"), H264("42c01e"), true}, // another level and flags of baseline: a backup encoder
		{H264("42e01f"), Codec{MimeType: MimeH264, ClockRate: 90000, Fmtp: "packetization-mode=1;profile-level-id=42C028"}, true},
		{H264("42e01f"), H264("64001f"), false}, // High is not Baseline
		{H264("42e01f"), Codec{MimeType: MimeH264, ClockRate: 90000, Fmtp: "profile-level-id=42e01f"}, false}, // mode 0
		{Opus, Codec{MimeType: MimeOpus, ClockRate: 48000, Channels: 2}, true},                                // fmtp are encoder hints
		{Opus, Codec{MimeType: MimeOpus, ClockRate: 48000, Channels: 1}, false},
		{Codec{MimeType: MimeVP9, ClockRate: 90000}, Codec{MimeType: MimeVP9, ClockRate: 90000, Fmtp: "profile-id=0"}, true},
		{Codec{MimeType: MimeVP9, ClockRate: 90000}, Codec{MimeType: MimeVP9, ClockRate: 90000, Fmtp: "profile-id=2"}, false},
		{Codec{MimeType: MimeVP8, ClockRate: 90000}, Codec{MimeType: MimeVP9, ClockRate: 90000}, false},
		{Opus, Opus, true},
	} {
		if got := Interchangeable(c.a, c.b); got != c.want {
			t.Errorf("%q and %q: %v, want %v", c.a.Fmtp, c.b.Fmtp, got, c.want)
		}
	}
}
