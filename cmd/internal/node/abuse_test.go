package node

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// -max-sessions is reserved before any work: 40 concurrent WHEP offers
// against room for 5 viewers create at most 5 sessions (before, the cap
// was checked and counted only after ICE gathering, and a burst passed
// it); the others get 503 with Retry-After.
func TestConcurrentOffersCannotPassTheSessionCap(t *testing.T) {
	n, base := startNode(t, "-max-sessions", "6", "-session-rate", "1000")
	hc := newHTTPClient(t)
	// The publisher (which holds one slot) offers exactly the viewers' H.264.
	only := []whipclient.Codec{{Kind: webrtc.RTPCodecTypeVideo, Codec: h264Cap}, {Kind: webrtc.RTPCodecTypeAudio, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}}
	if _, err := publish(t, hc, base, "cap", whipclient.Options{Codecs: only}); err != nil {
		t.Fatal(err)
	}
	offer := makeOffer(t, webrtc.RTPTransceiverDirectionRecvonly, h264Cap)
	var created, refused atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _ := do(t, hc, "POST", base+"/whep/cap", "application/sdp", offer)
			switch {
			case res.StatusCode == http.StatusCreated:
				created.Add(1)
			case res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "":
				refused.Add(1)
			default:
				t.Errorf("an offer got %d", res.StatusCode)
			}
		}()
	}
	wg.Wait()
	if created.Load() > 5 || created.Load()+refused.Load() != 40 {
		t.Fatalf("%d sessions created and %d refused with 503 for 40 offers, room for 5", created.Load(), refused.Load())
	}
	if got := n.Sessions(); got > 6 {
		t.Fatalf("%d sessions held, cap 6", got)
	}
}

// One client address cannot open sessions faster than -session-rate
// (bursts of twice that): past it, 503 with Retry-After, and another
// stream's viewer from elsewhere is not affected by the counting.
func TestSessionRatePerClient(t *testing.T) {
	_, base := startNode(t, "-session-rate", "2")
	hc := newHTTPClient(t)
	offer := makeOffer(t, webrtc.RTPTransceiverDirectionRecvonly, h264Cap)
	limited := 0
	for i := 0; i < 10; i++ {
		res, _ := do(t, hc, "POST", base+"/whep/nobody", "application/sdp", offer)
		if res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "1" {
			limited++
		}
	}
	// The burst (4) passes the limiter and finds no stream (404); the rest
	// are limited.
	if limited < 5 {
		t.Fatalf("%d of 10 rapid offers were rate limited, want at least 5", limited)
	}
}

// 2,000 slow clients (headers begun and never finished, RTMP and RTSP
// connections that never speak) hold no door shut: a publisher and a
// viewer get in meanwhile, and the node's HTTP server stays responsive.
func TestSlowConnectionsDoNotKeepOthersOut(t *testing.T) {
	n, base := startNode(t, "-rtmp", "127.0.0.1:0", "-rtsp", "127.0.0.1:0", "-rtsp-udp", "")
	httpAddr := n.HTTPAddr().String()
	targets := []string{httpAddr, n.rtmp.Addr().String(), n.rtsp.Addr().String()}
	var slow []net.Conn
	defer func() {
		for _, c := range slow {
			_ = c.Close()
		}
	}()
	for i := 0; i < 2000; i++ {
		addr := targets[i%len(targets)]
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
		if addr == httpAddr {
			_, _ = c.Write([]byte("POST /whip/slow HTTP/1.1\r\nHost: x\r\nX-Slow: "))
		}
		slow = append(slow, c)
	}
	hc := newHTTPClient(t)
	pub, err := publish(t, hc, base, "live", whipclient.Options{})
	if err != nil {
		t.Fatalf("a publisher while 2,000 slow clients hang: %v", err)
	}
	v, err := watch(t, hc, base, "live")
	if err != nil {
		t.Fatalf("a viewer while 2,000 slow clients hang: %v", err)
	}
	video, audio := testMedia(t)
	pub.warmUp(t, video, audio, v)
	if res, _ := do(t, hc, "GET", base+"/healthz", "", ""); res.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", res.StatusCode)
	}
}
