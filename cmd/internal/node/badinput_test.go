package node

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// makeOffer returns a complete pion offer (candidates included) and closes
// the PeerConnection when the test ends: a client that never connects.
func makeOffer(t *testing.T, dir webrtc.RTPTransceiverDirection, video webrtc.RTPCodecCapability) string {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: video, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

var (
	h264Cap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	vp8Cap  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
)

func do(t *testing.T, hc *http.Client, method, url, ctype, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// Every kind of bad input gets its specific 4xx with a sentence that says
// what was wrong, while a stream already flowing keeps flowing.
func TestBadInputGetsSpecificErrorsAndLiveStreamKeepsFlowing(t *testing.T) {
	video, audio := testMedia(t)
	n, base := startNode(t)
	hc := newHTTPClient(t)
	pub, v := publishAndWatch(t, hc, base, base, "live")
	playVideo(t, pub.video, video, -1)
	_ = audio

	sendOffer := makeOffer(t, webrtc.RTPTransceiverDirectionSendonly, h264Cap)
	recvOffer := makeOffer(t, webrtc.RTPTransceiverDirectionRecvonly, h264Cap)
	vp8Only := makeOffer(t, webrtc.RTPTransceiverDirectionRecvonly, vp8Cap)
	noMux := strings.ReplaceAll(sendOffer, "a=rtcp-mux\r\n", "")

	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		says                            string
	}{
		{"garbage SDP", "POST", "/whip/a", "application/sdp", "hello world", 400, "not a valid SDP"},
		{"empty body", "POST", "/whip/a", "application/sdp", "", 400, "empty"},
		{"wrong content type", "POST", "/whip/a", "text/plain", sendOffer, 415, "application/sdp"},
		{"no content type", "POST", "/whep/live", "", recvOffer, 415, "application/sdp"},
		{"body over 64 KiB", "POST", "/whip/a", "application/sdp", strings.Repeat("a", 65<<10), 413, "64 KiB"},
		{"invalid name", "POST", "/whip/bad.name", "application/sdp", sendOffer, 400, "characters other than"},
		{"name too long", "POST", "/whip/" + strings.Repeat("x", 65), "application/sdp", sendOffer, 400, "limit is 64"},
		{"WHEP unknown stream", "POST", "/whep/nosuch", "application/sdp", recvOffer, 404, "not being published"},
		{"second publisher", "POST", "/whip/live", "application/sdp", sendOffer, 409, "already being published"},
		{"recvonly offer to WHIP", "POST", "/whip/b", "application/sdp", recvOffer, 400, "/whep/"},
		{"sendonly offer to WHEP", "POST", "/whep/live", "application/sdp", sendOffer, 400, "/whip/"},
		{"viewer without the codec", "POST", "/whep/live", "application/sdp", vp8Only, 400, "H264"},
		{"offer without rtcp-mux", "POST", "/whip/c", "application/sdp", noMux, 400, "rtcp-mux"},
		{"DELETE unknown session", "DELETE", "/whip/live/0123", "", "", 404, "no session"},
		{"PATCH unknown session", "PATCH", "/whep/live/0123", "application/trickle-ice-sdpfrag", "a=end-of-candidates", 404, "no session"},
		{"GET on WHIP", "GET", "/whip/live", "", "", 405, ""},
	}
	for _, c := range cases {
		res, body := do(t, hc, c.method, base+c.path, c.ctype, c.body)
		if res.StatusCode != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: got %d %q, want %d containing %q", c.name, res.StatusCode, strings.TrimSpace(body), c.status, c.says)
		}
	}

	// PATCH on a real session: a body that is no fragment, a stale ETag.
	res, body := do(t, hc, "PATCH", v.sess.Location, "application/trickle-ice-sdpfrag", "garbage")
	if res.StatusCode != 400 {
		t.Errorf("PATCH garbage: %d %q", res.StatusCode, body)
	}
	res, body = do(t, hc, "PATCH", v.sess.Location, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n", "If-Match", `"stale"`)
	if res.StatusCode != 412 {
		t.Errorf("PATCH stale If-Match: %d %q", res.StatusCode, body)
	}
	res, _ = do(t, hc, "PATCH", v.sess.Location, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n", "If-Match", v.sess.ETag)
	if res.StatusCode != 204 {
		t.Errorf("PATCH end-of-candidates: %d, want 204", res.StatusCode)
	}

	// The stream kept flowing through all of that.
	before := len(v.packets("video"))
	waitUntil(t, 5*time.Second, "video still flowing", func() bool { return len(v.packets("video")) > before+30 })
	if n.whipEP.Sessions() != 1 || n.whepEP.Sessions() != 1 {
		t.Fatalf("sessions: %d publishers %d viewers, want 1 and 1", n.whipEP.Sessions(), n.whepEP.Sessions())
	}
}

// A client that posts an offer and never completes ICE is cleaned up after
// the connect timeout.
func TestPeerThatNeverConnectsIsCleanedUp(t *testing.T) {
	n, base := startNode(t, "-connect-timeout", "1s")
	hc := newHTTPClient(t)
	for _, path := range []string{"/whip/ghost"} {
		res, body := do(t, hc, "POST", base+path, "application/sdp", makeOffer(t, webrtc.RTPTransceiverDirectionSendonly, h264Cap))
		if res.StatusCode != 201 {
			t.Fatalf("POST %s: %d %s", path, res.StatusCode, body)
		}
	}
	if n.Sessions() != 1 {
		t.Fatalf("sessions = %d, want 1", n.Sessions())
	}
	waitUntil(t, 10*time.Second, "the unconnected session to be closed", func() bool { return n.Sessions() == 0 })
	// Its stream name is free again.
	res, body := do(t, hc, "POST", base+"/whip/ghost", "application/sdp", makeOffer(t, webrtc.RTPTransceiverDirectionSendonly, h264Cap))
	if res.StatusCode != 201 {
		t.Fatalf("republish after cleanup: %d %s", res.StatusCode, body)
	}
}

func TestPublishToken(t *testing.T) {
	_, base := startNode(t, "-publish-token", "s3cret")
	hc := newHTTPClient(t)
	offer := func() string { return makeOffer(t, webrtc.RTPTransceiverDirectionSendonly, h264Cap) }
	res, body := do(t, hc, "POST", base+"/whip/tok", "application/sdp", offer())
	if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d %q, want 401 with WWW-Authenticate", res.StatusCode, body)
	}
	res, _ = do(t, hc, "POST", base+"/whip/tok", "application/sdp", offer(), "Authorization", "Bearer wrong")
	if res.StatusCode != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("wrong token: %d, want 401 with WWW-Authenticate (RFC 6750 §3.1)", res.StatusCode)
	}
	res, body = do(t, hc, "POST", base+"/whip/tok", "application/sdp", offer(), "Authorization", "Bearer s3cret")
	if res.StatusCode != 201 {
		t.Fatalf("right token: %d %s", res.StatusCode, body)
	}
}

// WHIP/WHEP responses carry what RFC 9725 and browsers need.
func TestResourceHeadersAndCORS(t *testing.T) {
	_, base := startNode(t, "-ice-servers", "stun:stun.example.org:3478")
	hc := newHTTPClient(t)
	res, _ := do(t, hc, "OPTIONS", base+"/whip/x", "", "", "Origin", "https://studio.example", "Access-Control-Request-Method", "POST")
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") == "" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "PATCH") ||
		!strings.Contains(res.Header.Get("Link"), `rel="ice-server"`) {
		t.Fatalf("OPTIONS: %d %v", res.StatusCode, res.Header)
	}
	res, body := do(t, hc, "POST", base+"/whip/hdr", "application/sdp", makeOffer(t, webrtc.RTPTransceiverDirectionSendonly, h264Cap))
	if res.StatusCode != 201 {
		t.Fatalf("POST: %d %s", res.StatusCode, body)
	}
	for _, h := range []string{"Location", "ETag", "Accept-Patch", "Link"} {
		if res.Header.Get(h) == "" {
			t.Errorf("201 lacks %s", h)
		}
	}
	if ex := res.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(ex, "Location") || !strings.Contains(ex, "ETag") {
		t.Errorf("Expose-Headers %q", ex)
	}
	if !strings.Contains(body, "a=candidate:") {
		t.Error("the answer carries no candidates")
	}
	res, _ = do(t, hc, "DELETE", base+res.Header.Get("Location"), "", "")
	if res.StatusCode != 200 {
		t.Fatalf("DELETE: %d", res.StatusCode)
	}
}
