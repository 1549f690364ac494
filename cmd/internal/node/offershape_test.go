package node

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// Real publishers shape their offers differently from browsers. No OBS,
// GStreamer or ffmpeg 8 WHIP client is packaged here, so each case rewrites
// a real pion publisher's offer into that client's shape (as their sources
// write it) before posting it, then checks the publisher connects and its
// media reaches a viewer.
func TestPublisherOfferShapes(t *testing.T) {
	video, _ := testMedia(t)
	lines := func(re string) *regexp.Regexp { return regexp.MustCompile(`(?m)^` + re + `\r?\n`) }
	shapes := map[string]func(string) string{
		// OBS 30+ (libdatachannel): a=group:LS beside BUNDLE, session-level
		// msid-semantic, transport-cc offered.
		"obs": func(sdp string) string {
			return strings.Replace(sdp, "a=group:BUNDLE 0 1\r\n", "a=group:BUNDLE 0 1\r\na=group:LS 0 1\r\na=msid-semantic:WMS *\r\n", 1)
		},
		// ffmpeg 8's whip muxer: no candidates (it sends STUN itself to the
		// answer's first UDP host candidate), DTLS passive, no rtcp-fb, no
		// header extensions, no trickle.
		"ffmpeg8": func(sdp string) string {
			for _, re := range []string{"a=candidate:.*", "a=end-of-candidates", "a=rtcp-fb:.*", "a=extmap:.*", "a=ice-options:.*"} {
				sdp = lines(re).ReplaceAllString(sdp, "")
			}
			return strings.ReplaceAll(sdp, "a=setup:actpass", "a=setup:passive")
		},
		// GStreamer webrtcbin (whipclientsink): rtcp-rsize, ssrc-group-less
		// msid lines, everything on the media level.
		"gstreamer": func(sdp string) string {
			return strings.ReplaceAll(sdp, "a=rtcp-mux\r\n", "a=rtcp-mux\r\na=rtcp-rsize\r\n")
		},
	}
	_, base := startNode(t)
	hc := newHTTPClient(t)
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			api, _ := whipclient.NewAPI(whipclient.Options{})
			pc, _ := api.NewPeerConnection(webrtc.Configuration{})
			t.Cleanup(func() { _ = pc.Close() })
			v, _ := webrtc.NewTrackLocalStaticSample(h264Cap, "video", "pub")
			a, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
			for _, tr := range []webrtc.TrackLocal{a, v} {
				_, _ = pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			}
			offer, _ := pc.CreateOffer(nil)
			gathered := webrtc.GatheringCompletePromise(pc)
			_ = pc.SetLocalDescription(offer)
			<-gathered
			res, answer := do(t, hc, "POST", base+"/whip/"+name, "application/sdp", shape(pc.LocalDescription().SDP))
			if res.StatusCode != 201 {
				t.Fatalf("%s-shaped offer: %d %s", name, res.StatusCode, answer)
			}
			if name == "ffmpeg8" {
				first := regexp.MustCompile(`(?m)^a=candidate:\S+ \d+ (\S+) \d+ \S+ \d+ typ (\S+)`).FindStringSubmatch(answer)
				if first == nil || !strings.EqualFold(first[1], "udp") || first[2] != "host" || !strings.Contains(answer, "a=setup:active") {
					t.Fatalf("ffmpeg needs a UDP host candidate first and setup:active: %q", answer)
				}
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
				t.Fatal(err)
			}
			waitConnected(t, pc)
			viewer, err := watch(t, hc, base, name)
			if err != nil {
				t.Fatal(err)
			}
			playVideo(t, v, video, 45)
			waitUntil(t, 10*time.Second, "media at the viewer", func() bool { return markers(viewer.packets("video")) >= 10 })
		})
	}
}
