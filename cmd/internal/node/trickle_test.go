package node

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// An offer with no candidates at all works when the client trickles its
// candidates afterwards by PATCH (RFC 9725 §4.3.1).
func TestTrickledCandidatesByPatch(t *testing.T) {
	video, audio := testMedia(t)
	_, base := startNode(t)
	hc := newHTTPClient(t)
	pub, err := publish(t, hc, base, "tr", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}

	api, _ := whipclient.NewAPI(whipclient.Options{})
	pc, _ := api.NewPeerConnection(webrtc.Configuration{})
	t.Cleanup(func() { _ = pc.Close() })
	_, _ = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	var (
		mu    sync.Mutex
		cands []string
	)
	gathered := make(chan struct{})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			close(gathered)
			return
		}
		mu.Lock()
		cands = append(cands, c.ToJSON().Candidate)
		mu.Unlock()
	})
	got := make(chan struct{}, 1)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if _, _, err := tr.ReadRTP(); err == nil {
			got <- struct{}{}
		}
	})
	offer, _ := pc.CreateOffer(nil)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(offer.SDP, "a=candidate") {
		t.Fatal("the test offer should carry no candidates")
	}
	res, answer := do(t, hc, "POST", base+"/whep/tr", "application/sdp", offer.SDP)
	if res.StatusCode != 201 {
		t.Fatalf("POST: %d %s", res.StatusCode, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	<-gathered
	mu.Lock()
	frag := "a=ice-ufrag:" + ufragOf(offer.SDP) + "\r\na=ice-pwd:" + pwdOf(offer.SDP) + "\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
	for _, c := range cands {
		frag += "a=" + c + "\r\n"
	}
	mu.Unlock()
	frag += "a=end-of-candidates\r\n"
	res, body := do(t, hc, "PATCH", base+res.Header.Get("Location"), "application/trickle-ice-sdpfrag", frag, "If-Match", res.Header.Get("ETag"))
	if res.StatusCode != 204 {
		t.Fatalf("PATCH: %d %s", res.StatusCode, body)
	}
	playVideo(t, pub.video, video, 60)
	_ = audio
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("no media after trickling; connection %s", pc.ConnectionState())
	}
}

// A PATCH with new ICE credentials restarts ICE: 200, the server's new
// credentials and candidates, a new ETag, and media flows on.
func TestICERestartByPatch(t *testing.T) {
	video, audio := testMedia(t)
	_, base := startNode(t)
	hc := newHTTPClient(t)
	pub, v := publishAndWatch(t, hc, base, base, "ir")
	playVideo(t, pub.video, video, -1)
	_ = audio

	pc := v.sess.PC
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	local := pc.LocalDescription().SDP
	frag := fmt.Sprintf("a=ice-ufrag:%s\r\na=ice-pwd:%s\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n", ufragOf(local), pwdOf(local))
	for _, c := range regexp.MustCompile(`(?m)^a=candidate:.*$`).FindAllString(local, -1) {
		frag += strings.TrimSpace(c) + "\r\n"
	}
	res, body := do(t, hc, "PATCH", v.sess.Location, "application/trickle-ice-sdpfrag", frag, "If-Match", v.sess.ETag)
	if res.StatusCode != 200 || !strings.Contains(body, "a=ice-ufrag:") || !strings.Contains(body, "a=candidate:") {
		t.Fatalf("ICE restart PATCH: %d %q", res.StatusCode, body)
	}
	if res.Header.Get("ETag") == v.sess.ETag || res.Header.Get("ETag") == "" {
		t.Fatalf("the ETag did not change on ICE restart: %q", res.Header.Get("ETag"))
	}
	// Apply the server's new credentials and candidates to the old answer.
	answer := pc.RemoteDescription().SDP
	answer = regexp.MustCompile(`(?m)^a=ice-ufrag:.*$`).ReplaceAllString(answer, "a=ice-ufrag:"+ufragOf(body))
	answer = regexp.MustCompile(`(?m)^a=ice-pwd:.*$`).ReplaceAllString(answer, "a=ice-pwd:"+pwdOf(body))
	answer = regexp.MustCompile(`(?m)^a=(candidate:.*|end-of-candidates)\r?\n`).ReplaceAllString(answer, "")
	for _, c := range regexp.MustCompile(`(?m)^a=candidate:.*\r?\n`).FindAllString(body, -1) {
		answer = strings.Replace(answer, "a=mid:", c+"a=mid:", 1)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	before := len(v.packets("video"))
	waitUntil(t, 10*time.Second, "media after the ICE restart", func() bool {
		return pc.ICEConnectionState() == webrtc.ICEConnectionStateConnected && len(v.packets("video")) > before+60
	})
}

func ufragOf(sdp string) string {
	return strings.TrimSpace(strings.TrimPrefix(regexp.MustCompile(`(?m)^a=ice-ufrag:.*$`).FindString(sdp), "a=ice-ufrag:"))
}

func pwdOf(sdp string) string {
	return strings.TrimSpace(strings.TrimPrefix(regexp.MustCompile(`(?m)^a=ice-pwd:.*$`).FindString(sdp), "a=ice-pwd:"))
}
