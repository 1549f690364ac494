package node

import (
	"context"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// startNode runs an origin on loopback with test-friendly timeouts; extra
// flags override them.
func startNode(t *testing.T, extra ...string) (*Node, string) {
	t.Helper()
	return startAs(t, RoleOrigin, append([]string{"-node-id", "test-origin"}, extra...)...)
}

// startRelay runs a relay on loopback on the control plane at natsURL.
func startRelay(t *testing.T, natsURL string, extra ...string) (*Node, string) {
	t.Helper()
	return startAs(t, RoleRelay, append([]string{"-node-id", "test-relay", "-nats", natsURL}, extra...)...)
}

func startAs(t *testing.T, role Role, extra ...string) (*Node, string) {
	t.Helper()
	args := append([]string{"-http", "127.0.0.1:0", "-webrtc-udp", "127.0.0.1:0", "-gossip", "127.0.0.1:0", "-rtsp", "", "-rtmp", "",
		"-connect-timeout", "3s", "-log-level", "warn"}, extra...)
	cfg, err := Load(string(role), args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, role, cfg.Logger(newTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; n.Close() })
	return n, "http://" + n.HTTPAddr().String()
}

// publishAndWatch publishes stream at pubBase and attaches one viewer at
// watchBase (the same node, or a relay).
func publishAndWatch(t *testing.T, hc *http.Client, pubBase, watchBase, stream string) (*publisher, *viewer) {
	t.Helper()
	pub, err := publish(t, hc, pubBase, stream, whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := watch(t, hc, watchBase, stream)
	if err != nil {
		t.Fatal(err)
	}
	return pub, v
}

// testWriter logs to t until the test is over. memberlist's Shutdown
// does not wait for a probe in flight, whose log line once came after
// the test had completed, which panics.
type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	over bool
}

// newTestWriter is registered before the node it logs for, so its cleanup
// runs after the node's.
func newTestWriter(t *testing.T) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.over = true; w.mu.Unlock() })
	return w
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.over {
		w.t.Log(string(p))
	}
	return len(p), nil
}

// newHTTPClient returns a client whose idle connections are closed at the
// end of the test, so no keep-alive goroutine outlives it.
func newHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// newHTTPClientFrom is a client whose connections come from local address
// ip (any of 127.0.0.0/8): another client address, as far as a node sees.
func newHTTPClientFrom(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

func testMedia(t *testing.T) (video, audio [][]byte) {
	t.Helper()
	h264, opus, err := mediatest.Files(mediatest.Small)
	if err != nil {
		t.Fatal(err)
	}
	if video, err = whipclient.AccessUnits(h264); err != nil {
		t.Fatal(err)
	}
	if audio, err = whipclient.OpusPackets(opus); err != nil {
		t.Fatal(err)
	}
	return video, audio
}

// publisher is a pion WHIP client sending H.264 and Opus.
type publisher struct {
	sess         *whipclient.Session
	video, audio *webrtc.TrackLocalStaticSample
}

func publish(t *testing.T, hc *http.Client, base, stream string, o whipclient.Options) (*publisher, error) {
	t.Helper()
	o.HTTP = hc
	api, err := whipclient.NewAPI(o)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "pub")
	a, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	for _, tr := range []webrtc.TrackLocal{v, a} {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := whipclient.Offer(ctx, base+"/whip/"+stream, pc, o)
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = pc.Close() })
	waitConnected(t, pc)
	return &publisher{sess: sess, video: v, audio: a}, nil
}

// send plays frames video frames (30 fps) and the matching audio (50 pps).
func (p *publisher) send(t *testing.T, video, audio [][]byte, frames int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = whipclient.Play(ctx, p.video, video, time.Second/30, frames) }()
	go func() { defer wg.Done(); _ = whipclient.Play(ctx, p.audio, audio, 20*time.Millisecond, frames*50/30) }()
	wg.Wait()
}

// warmUp plays until every viewer receives video and audio. Packets the
// node wrote to a viewer before its leg finished DTLS are dropped by design
// and never NACKed, so exact counts start after the warm-up.
func (p *publisher) warmUp(t *testing.T, video, audio [][]byte, viewers ...*viewer) {
	t.Helper()
	for try := 0; ; try++ {
		ready := true
		for _, v := range viewers {
			ready = ready && len(v.packets("video")) > 0 && len(v.packets("audio")) > 0
		}
		if ready {
			return
		}
		if try == 40 {
			t.Fatal("viewers received nothing while warming up")
		}
		p.send(t, video, audio, 3)
	}
}

// settle waits until no viewer has received anything for 300 ms (at most
// 5 s): the tail of the warm-up is then in, and a count that starts now
// counts only what is sent after it.
func settle(viewers ...*viewer) {
	total := func() int {
		n := 0
		for _, v := range viewers {
			n += len(v.packets("video")) + len(v.packets("audio"))
		}
		return n
	}
	last, since := total(), time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n := total(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 300*time.Millisecond {
			return
		}
	}
}

// framesSince counts complete video frames received after the mark.
func (v *viewer) framesSince(mark map[uint16]bool) int { return markers(v.packetsAfter("video", mark)) }

// seqSet is the set of sequence numbers a viewer has of one kind.
func (v *viewer) seqSet(kind string) map[uint16]bool {
	m := map[uint16]bool{}
	for _, p := range v.packets(kind) {
		m[p.seq] = true
	}
	return m
}

// packetsAfter returns what the viewer received that is not in before.
func (v *viewer) packetsAfter(kind string, before map[uint16]bool) []rx {
	var out []rx
	for _, p := range v.packets(kind) {
		if !before[p.seq] {
			out = append(out, p)
		}
	}
	return out
}

func waitConnected(t *testing.T, pc *webrtc.PeerConnection) {
	t.Helper()
	waitUntil(t, 10*time.Second, "peer connected", func() bool {
		return pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rx is one received RTP packet's header fields and arrival time.
type rx struct {
	ssrc   uint32
	seq    uint16
	ts     uint32
	marker bool
	size   int
	at     time.Time
	sum    uint64 // FNV-1a of the payload
	head   [6]byte
	audio  []byte // the payload, kept for audio only
}

// viewer is a pion WHEP client that records what it receives.
type viewer struct {
	sess    *whipclient.Session
	mu      sync.Mutex
	got     map[string][]rx // by kind
	srs     []*rtcp.SenderReport
	states  []webrtc.PeerConnectionState
	wg      sync.WaitGroup
	ontrack atomic.Int32
}

func watch(t *testing.T, hc *http.Client, base, stream string) (*viewer, error) {
	t.Helper()
	return watchWith(t, hc, base, stream, whipclient.Options{})
}

func watchWith(t *testing.T, hc *http.Client, base, stream string, o whipclient.Options) (*viewer, error) {
	t.Helper()
	o.HTTP = hc
	api, err := whipclient.NewAPI(o)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	v := &viewer{got: map[string][]rx{}}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		v.mu.Lock()
		v.states = append(v.states, s)
		v.mu.Unlock()
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		v.ontrack.Add(1)
		v.wg.Add(2)
		go func() {
			defer v.wg.Done()
			for {
				pkts, _, err := recv.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok {
						v.mu.Lock()
						v.srs = append(v.srs, sr)
						v.mu.Unlock()
					}
				}
			}
		}()
		go func() {
			defer v.wg.Done()
			kind := tr.Kind().String()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				v.mu.Lock()
				r := rx{p.SSRC, p.SequenceNumber, p.Timestamp, p.Marker, len(p.Payload), time.Now(), fnv64(p.Payload), [6]byte{}, nil}
				copy(r.head[:], p.Payload)
				if kind == "audio" {
					r.audio = append([]byte(nil), p.Payload...)
				}
				v.got[kind] = append(v.got[kind], r)
				v.mu.Unlock()
			}
		}()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := whipclient.Offer(ctx, base+"/whep/"+stream, pc, o)
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	v.sess = sess
	t.Cleanup(func() { _ = pc.Close(); v.wg.Wait() })
	waitConnected(t, pc)
	return v, nil
}

func (v *viewer) packets(kind string) []rx {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]rx(nil), v.got[kind]...)
}

// uniqueSeqs returns the distinct sequence numbers in arrival order, and
// whether they arrived in order (allowing for wrap-around).
func uniqueSeqs(ps []rx) (seqs []uint16, inOrder bool) {
	seen := map[uint16]bool{}
	inOrder = true
	for _, p := range ps {
		if seen[p.seq] {
			continue
		}
		if len(seqs) > 0 && int16(p.seq-seqs[len(seqs)-1]) <= 0 {
			inOrder = false
		}
		seen[p.seq] = true
		seqs = append(seqs, p.seq)
	}
	return seqs, inOrder
}

// contiguous reports whether seqs are consecutive, allowing wrap-around.
func contiguous(seqs []uint16) bool {
	s := append([]uint16(nil), seqs...)
	sort.Slice(s, func(i, j int) bool { return int16(s[i]-s[0]) < int16(s[j]-s[0]) })
	for i := 1; i < len(s); i++ {
		if s[i] != s[i-1]+1 {
			return false
		}
	}
	return true
}

func markers(ps []rx) int {
	seen := map[uint16]bool{}
	n := 0
	for _, p := range ps {
		if p.marker && !seen[p.seq] {
			n++
		}
		seen[p.seq] = true
	}
	return n
}

// unpluggable is a UDP socket whose cable can be pulled: writes vanish and
// reads are discarded, as when a publisher's network goes away without a
// goodbye (no DTLS close_notify, no DELETE).
type unpluggable struct {
	net.PacketConn
	pulled atomic.Bool
}

func (u *unpluggable) WriteTo(b []byte, addr net.Addr) (int, error) {
	if u.pulled.Load() {
		return len(b), nil
	}
	return u.PacketConn.WriteTo(b, addr)
}

func (u *unpluggable) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, a, err := u.PacketConn.ReadFrom(b)
		if err != nil || !u.pulled.Load() {
			return n, a, err
		}
	}
}

// playVideo plays frames (30 fps; -1: until the test ends) on track in the
// background; the test waits for it before it ends.
func playVideo(t *testing.T, track *webrtc.TrackLocalStaticSample, video [][]byte, frames int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = whipclient.Play(ctx, track, video, time.Second/30, frames) }()
	t.Cleanup(func() { cancel(); <-done })
}

// settingsOn returns a loopback SettingEngine whose ICE traffic goes through
// conn (a test's lossy or unpluggable socket).
func settingsOn(t *testing.T, conn net.PacketConn) *webrtc.SettingEngine {
	mux := webrtc.NewICEUDPMux(nil, conn)
	t.Cleanup(func() { _ = mux.Close(); _ = conn.Close() })
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEUDPMux(mux)
	return &se
}
