package node

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// publishRTP publishes one video track of the given codec that the test
// feeds RTP packets by hand.
func publishRTP(t *testing.T, hc *http.Client, base, stream string, c webrtc.RTPCodecCapability) *webrtc.TrackLocalStaticRTP {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: 100}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
	pc, _ := api.NewPeerConnection(webrtc.Configuration{})
	t.Cleanup(func() { _ = pc.Close() })
	tr, _ := webrtc.NewTrackLocalStaticRTP(c, "video", "pub")
	if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := whipclient.Offer(ctx, base+"/whip/"+stream, pc, whipclient.Options{HTTP: hc}); err != nil {
		t.Fatalf("publish %s: %v", c.MimeType, err)
	}
	waitConnected(t, pc)
	return tr
}

// Every codec the issue names reaches a viewer that can take it, and a
// viewer that cannot gets a 400 naming the stream's codec.
func TestCodecsNegotiatedPerViewer(t *testing.T) {
	_, base := startNode(t)
	hc := newHTTPClient(t)
	cases := []struct {
		name  string
		codec webrtc.RTPCodecCapability
		other webrtc.RTPCodecCapability // a codec the stream is not in
	}{
		{"vp8", vp8Cap, h264Cap},
		{"vp9", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}, vp8Cap},
		{"av1", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000}, vp8Cap},
		{"h264-high", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032"}, h264Cap},
		{"h265", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH265, ClockRate: 90000, SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"}, h264Cap},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := publishRTP(t, hc, base, c.name, c.codec)
			v, err := watch(t, hc, base, c.name)
			if err != nil {
				t.Fatalf("viewer with every codec: %v", err)
			}
			// Keep sending until the viewer has 20: packets written before the
			// node's leg to the viewer finished DTLS are dropped by design.
			seq := uint16(0)
			waitUntil(t, 10*time.Second, "packets at the viewer", func() bool {
				_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true}, Payload: []byte{0x10, 0, 1, 2}})
				seq++
				return len(v.packets("video")) >= 20
			})

			res, body := do(t, hc, "POST", base+"/whep/"+c.name, "application/sdp", makeOffer(t, webrtc.RTPTransceiverDirectionRecvonly, c.other))
			want := strings.ToUpper(strings.SplitN(c.name, "-", 2)[0])
			if res.StatusCode != 400 || !strings.Contains(strings.ToUpper(body), want) {
				t.Fatalf("viewer without %s: %d %q, want 400 naming it", want, res.StatusCode, body)
			}
		})
	}
}

// All WebRTC traffic of the node uses one UDP port; -public-ip replaces the
// advertised host address (NAT 1:1); -webrtc-tcp adds an ICE-TCP candidate
// that a TCP-only client can use.
func TestOnePortPublicIPAndICETCP(t *testing.T) {
	n, base := startNode(t, "-public-ip", "203.0.113.7", "-webrtc-tcp", "127.0.0.1:0")
	hc := newHTTPClient(t)
	_ = n
	ports := map[string]bool{}
	for _, s := range []string{"a", "b", "c"} {
		res, answer := do(t, hc, "POST", base+"/whip/"+s, "application/sdp", makeOffer(t, webrtc.RTPTransceiverDirectionSendonly, h264Cap))
		if res.StatusCode != 201 {
			t.Fatalf("POST: %d %s", res.StatusCode, answer)
		}
		for _, m := range regexp.MustCompile(`(?m)^a=candidate:\S+ \d+ (\S+) \d+ (\S+) (\d+) typ host`).FindAllStringSubmatch(answer, -1) {
			if m[2] != "203.0.113.7" {
				t.Errorf("candidate advertises %s, want the public IP", m[2])
			}
			if strings.EqualFold(m[1], "udp") {
				ports[m[3]] = true
			}
		}
		if !strings.Contains(answer, " tcp ") || !strings.Contains(answer, "tcptype passive") {
			t.Errorf("no passive ICE-TCP candidate in %q", answer)
		}
	}
	if len(ports) != 1 {
		t.Fatalf("UDP candidates on ports %v, want exactly one port for every session", ports)
	}
}

// A viewer that can only use TCP connects over ICE-TCP and gets media.
func TestViewerOverICETCP(t *testing.T) {
	video, audio := testMedia(t)
	_, base := startNode(t, "-webrtc-tcp", "127.0.0.1:0")
	hc := newHTTPClient(t)
	pub, err := publish(t, hc, base, "tcp", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	v, err := watchWith(t, hc, base, "tcp", whipclient.Options{Settings: &se})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := v.sess.PC.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("selected pair %v (%v), want TCP", pair, err)
	}
	pub.warmUp(t, video, audio, v)
	mark := v.seqSet("video")
	pub.send(t, video, audio, 30)
	waitUntil(t, 10*time.Second, "frames over TCP", func() bool { return v.framesSince(mark) >= 30 })
}
