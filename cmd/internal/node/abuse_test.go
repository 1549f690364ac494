package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
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

// Offers that never connect (no ICE ever completes) hold at most
// -half-open sessions per client address: past it, 503 with Retry-After,
// while a viewer from another address gets in; the share comes back when
// the connect timeout closes them. Before, 12 such offers a second held
// 180 slots and kept every legitimate viewer out.
func TestHalfOpenSessionsPerClient(t *testing.T) {
	_, base := startNode(t, "-half-open", "3", "-session-rate", "1000", "-max-sessions", "10", "-connect-timeout", "2s")
	hc := newHTTPClient(t)
	only := []whipclient.Codec{{Kind: webrtc.RTPCodecTypeVideo, Codec: h264Cap}, {Kind: webrtc.RTPCodecTypeAudio, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}}}
	if _, err := publish(t, hc, base, "live", whipclient.Options{Codecs: only}); err != nil {
		t.Fatal(err)
	}
	offer := makeOffer(t, webrtc.RTPTransceiverDirectionRecvonly, h264Cap)
	post := func() *http.Response {
		res, _ := do(t, hc, "POST", base+"/whep/live", "application/sdp", offer)
		return res
	}
	for i := 0; i < 3; i++ {
		if res, body := do(t, hc, "POST", base+"/whep/live", "application/sdp", offer); res.StatusCode != http.StatusCreated {
			t.Fatalf("half-open offer %d: %d %s, want 201", i+1, res.StatusCode, body)
		}
	}
	if res := post(); res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a fourth half-open offer from one address: %d (Retry-After %q), want 503 with Retry-After",
			res.StatusCode, res.Header.Get("Retry-After"))
	}
	other := newHTTPClientFrom(t, "127.0.0.2")
	if _, err := watch(t, other, base, "live"); err != nil { // connected, or it fails
		t.Fatalf("a viewer from another address while one address has its half-open share: %v", err)
	}
	waitUntil(t, 10*time.Second, "the connect timeout to give the half-open share back", func() bool {
		return post().StatusCode == http.StatusCreated
	})
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

// RTSP readers take session slots too: past -max-sessions, a reader's
// SETUP is refused with 503, and a slot comes back when a reader leaves.
func TestRTSPReadersTakeSessionSlots(t *testing.T) {
	n, httpBase := startNode(t, "-rtsp", "127.0.0.1:0", "-rtsp-udp", "", "-max-sessions", "2", "-session-rate", "1000")
	hc := newHTTPClient(t)
	if _, err := publish(t, hc, httpBase, "cam", whipclient.Options{}); err != nil { // slot 1
		t.Fatal(err)
	}
	read := func() (*gortsplib.Client, error) {
		tcp := gortsplib.ProtocolTCP
		c := &gortsplib.Client{Scheme: "rtsp", Host: n.rtsp.Addr().String(), Protocol: &tcp}
		if err := c.Start(); err != nil {
			return nil, err
		}
		u, err := base.ParseURL("rtsp://" + n.rtsp.Addr().String() + "/cam")
		if err != nil {
			c.Close()
			return nil, err
		}
		desc, _, err := c.Describe(u)
		if err == nil {
			err = c.SetupAll(desc.BaseURL, desc.Medias)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	first, err := read() // slot 2
	if err != nil {
		t.Fatalf("the first reader: %v", err)
	}
	if c, err := read(); err == nil || !strings.Contains(err.Error(), "503") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("a reader past -max-sessions 2: %v, want 503", err)
	}
	first.Close()
	waitUntil(t, 5*time.Second, "the first reader's slot back", func() bool { return n.Sessions() == 1 })
	second, err := read()
	if err != nil {
		t.Fatalf("a reader once a slot was free: %v", err)
	}
	second.Close()
}

// lineCounter counts log lines.
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}

// Random bytes on every listener (HTTP, RTMP, RTSP, the UDP media port)
// crash nothing, disturb nothing, and write few log lines even at debug
// level (once, garbage wrote about 15,000 ERROR lines; here 3,900 pieces
// write about a dozen, with or without the per-kind rate limit, which
// internal/config tests on its own as the bound behind this).
func TestGarbageOnEveryListener(t *testing.T) {
	args := []string{"-node-id", "garbage", "-http", "127.0.0.1:0", "-webrtc-udp", "127.0.0.1:0", "-gossip", "127.0.0.1:0",
		"-rtmp", "127.0.0.1:0", "-rtsp", "127.0.0.1:0", "-rtsp-udp", "", "-log-level", "debug"}
	cfg, err := Load("origin", args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var lines lineCounter
	n, err := New(cfg, RoleOrigin, cfg.Logger(&lines))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	defer func() { cancel(); <-done; n.Close() }()
	base := "http://" + n.HTTPAddr().String()
	before := lines.n.Load()

	rnd := rand.New(rand.NewPCG(1, 2))
	junk := func() []byte {
		b := make([]byte, 1+rnd.IntN(1400))
		for i := range b {
			b[i] = byte(rnd.UintN(256))
		}
		return b
	}
	const rounds = 300
	for _, addr := range []string{n.HTTPAddr().String(), n.rtmp.Addr().String(), n.rtsp.Addr().String()} {
		for i := 0; i < rounds; i++ {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write(junk())
			_ = c.Close()
		}
	}
	udp, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", n.UDPPort()))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10*rounds; i++ {
		_, _ = udp.Write(junk())
	}
	_ = udp.Close()

	hc := newHTTPClient(t)
	if _, err := publish(t, hc, base, "after", whipclient.Options{}); err != nil {
		t.Fatalf("a publisher after the garbage: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := lines.n.Load() - before; got > 400 {
		t.Fatalf("%d log lines (at debug) for %d pieces of garbage: the log is not rate-limited", got, 3*rounds+10*rounds)
	} else {
		t.Logf("%d log lines at debug level for %d pieces of garbage", got, 3*rounds+10*rounds)
	}
}
