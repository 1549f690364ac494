package webrtchttp

import (
	"strings"
	"testing"
)

const chromeLikeOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11\r\na=setup:actpass\r\n" +
	"a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n"

func TestParseOffer(t *testing.T) {
	if _, err := ParseOffer(chromeLikeOffer); err != nil {
		t.Fatalf("valid offer refused: %v", err)
	}
	cases := map[string]string{
		"not SDP":     "hello",
		"no media":    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
		"no rtcp-mux": strings.Replace(chromeLikeOffer, "a=rtcp-mux\r\n", "", 1),
		"no ice":      strings.Replace(chromeLikeOffer, "a=ice-ufrag:abcd\r\n", "", 1),
		"no dtls":     strings.Replace(chromeLikeOffer, "a=fingerprint:sha-256 00:11\r\n", "", 1),
		// A 95-track publisher was once accepted: transceivers, tracks and
		// goroutines for nothing a player sends.
		"95 sections":    chromeLikeOffer + strings.Repeat(chromeLikeOffer[strings.Index(chromeLikeOffer, "m=video"):], 94),
		"100 candidates": chromeLikeOffer + strings.Repeat("a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n", 100),
	}
	for name, body := range cases {
		if _, err := ParseOffer(body); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseFragment(t *testing.T) {
	f, err := ParseFragment("a=ice-ufrag:u1\r\na=ice-pwd:p1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\n" +
		"a=candidate:2 1 udp 2130706431 127.0.0.1 5001 typ host\r\na=end-of-candidates\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.Ufrag != "u1" || f.Pwd != "p1" || len(f.Candidates) != 2 || f.Candidates[1].Mid != "1" || !f.EndOfCandidates {
		t.Fatalf("parsed %+v", f)
	}
	for _, bad := range []string{"", "garbage", "a=ice-ufrag:only\r\n", "a=rtcp-mux\r\n"} {
		if _, err := ParseFragment(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseOffer(f *testing.F) {
	f.Add(chromeLikeOffer)
	f.Add("v=0\r\n")
	f.Fuzz(func(t *testing.T, body string) {
		d, err := ParseOffer(body)
		if err == nil && len(d.MediaDescriptions) == 0 {
			t.Fatal("accepted an offer without media")
		}
	})
}

func FuzzParseFragment(f *testing.F) {
	f.Add("a=ice-ufrag:u\r\na=ice-pwd:p\r\na=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 1 typ host\r\n")
	f.Fuzz(func(t *testing.T, body string) {
		fr, err := ParseFragment(body)
		if err == nil && (fr.Ufrag == "") != (fr.Pwd == "") {
			t.Fatal("accepted half a credential")
		}
	})
}

// The bounds on a session's shape say so, rather than some other fault.
func TestOfferBoundsSayWhy(t *testing.T) {
	m := chromeLikeOffer[strings.Index(chromeLikeOffer, "m=video"):]
	if _, err := ParseOffer(chromeLikeOffer + strings.Repeat(m, MaxMediaSections)); err == nil || !strings.Contains(err.Error(), "media sections") {
		t.Errorf("%d sections: %v", MaxMediaSections+1, err)
	}
	c := strings.Repeat("a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n", MaxCandidates+1)
	if _, err := ParseOffer(chromeLikeOffer + c); err == nil || !strings.Contains(err.Error(), "candidates") {
		t.Errorf("%d candidates: %v", MaxCandidates+1, err)
	}
}
