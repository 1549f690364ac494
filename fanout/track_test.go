package fanout

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// collector is a Writer that records what it receives; block, when set,
// holds every write until it is closed (a subscriber that cannot keep up).
type collector struct {
	mu    sync.Mutex
	got   []*Packet
	block chan struct{}
}

func (c *collector) WritePacket(p *Packet) error {
	if c.block != nil {
		<-c.block
	}
	c.mu.Lock()
	c.got = append(c.got, p)
	c.mu.Unlock()
	return nil
}

func (c *collector) packets() []*Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Packet(nil), c.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// pkt is a one-packet frame (its marker set).
func pkt(ssrc uint32, seq uint16, ts uint32) *Packet {
	return &Packet{Header: rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts, Marker: true}, Payload: []byte{1, 2, 3}}
}

// framePkt is packet i of an n-packet frame: the last has the marker.
func framePkt(ssrc uint32, seq uint16, ts uint32, i, n int) *Packet {
	p := pkt(ssrc, seq, ts)
	p.Header.Marker = i == n-1
	return p
}

func videoTrack(interval time.Duration) *Track {
	return NewTrack(TrackParams{ID: "video", Kind: KindVideo, Codec: Codec{MimeType: "video/VP8", ClockRate: 90000}, KeyframeInterval: interval})
}

func TestTrackDeliversInOrderToEverySubscriber(t *testing.T) {
	tr := videoTrack(0)
	defer tr.Close()
	cols := make([]*collector, 20)
	for i := range cols {
		cols[i] = &collector{}
		if _, err := tr.Subscribe(cols[i]); err != nil {
			t.Fatal(err)
		}
	}
	const n = 200
	for i := 0; i < n; i++ {
		tr.Write(pkt(7, uint16(65500+i), uint32(i*3000)))
	}
	for i, c := range cols {
		waitFor(t, "all packets", func() bool { return len(c.packets()) == n })
		for j, p := range c.packets() {
			if want := uint16(65500 + j); p.Header.SequenceNumber != want {
				t.Fatalf("subscriber %d packet %d: seq %d, want %d", i, j, p.Header.SequenceNumber, want)
			}
		}
	}
}

func TestSlowSubscriberDropsAndCountsWithoutStallingOthers(t *testing.T) {
	tr := NewTrack(TrackParams{ID: "v", Kind: KindVideo, Codec: Codec{MimeType: "video/VP8", ClockRate: 90000}, QueueLen: 8})
	slow := &collector{block: make(chan struct{})}
	unblock := sync.OnceFunc(func() { close(slow.block) })
	t.Cleanup(func() { unblock(); tr.Close() })
	fast := &collector{}
	sSlow, _ := tr.Subscribe(slow)
	sFast, _ := tr.Subscribe(fast)
	const n = 100
	for i := 0; i < n; i++ {
		start := time.Now()
		tr.Write(pkt(1, uint16(i), 0))
		if time.Since(start) > time.Second {
			t.Fatal("Write blocked on a slow subscriber")
		}
		// The fast subscriber keeps receiving while the slow one is stuck.
		waitFor(t, "fast subscriber", func() bool { return len(fast.packets()) == i+1 })
	}
	unblock()
	// The slow one holds one packet in its writer and QueueLen in its queue.
	if d := sSlow.Stats().Dropped.Load(); d < n-8-2 || d > n-8-1 {
		t.Fatalf("slow subscriber dropped %d, want %d (or one more)", d, n-9)
	}
	if d := sFast.Stats().Dropped.Load(); d != 0 {
		t.Fatalf("fast subscriber dropped %d", d)
	}
}

func TestSharedCacheAnswersNACKsForAllSubscribers(t *testing.T) {
	tr := videoTrack(0)
	defer tr.Close()
	for i := 0; i < cacheSize+10; i++ {
		tr.Write(pkt(9, uint16(i), 0))
	}
	p := tr.Lookup(uint16(cacheSize + 5))
	if p == nil || p.Header.SequenceNumber != cacheSize+5 {
		t.Fatalf("recent packet not in cache: %+v", p)
	}
	if tr.Lookup(3) != nil {
		t.Fatal("packet 3 should have been overwritten")
	}
	if tr.Lookup(uint16(cacheSize+100)) != nil {
		t.Fatal("never-sent packet found")
	}
}

func TestKeyframeRequestsAreCoalesced(t *testing.T) {
	var sent atomic.Int32
	tr := videoTrack(200 * time.Millisecond)
	defer tr.Close()
	tr.SetSource(KeyframeRequesterFunc(func() { sent.Add(1) }))
	// 100 viewers ask at once: one request goes up now, one trails the interval.
	for i := 0; i < 100; i++ {
		tr.RequestKeyframe()
	}
	if got := sent.Load(); got != 1 {
		t.Fatalf("immediate requests = %d, want 1", got)
	}
	waitFor(t, "trailing request", func() bool { return sent.Load() == 2 })
	time.Sleep(400 * time.Millisecond)
	if got := sent.Load(); got != 2 {
		t.Fatalf("requests after interval = %d, want 2", got)
	}
}

func TestPendingKeyframeRequestCancelledByKeyframe(t *testing.T) {
	var sent atomic.Int32
	tr := videoTrack(200 * time.Millisecond)
	defer tr.Close()
	tr.SetSource(KeyframeRequesterFunc(func() { sent.Add(1) }))
	tr.RequestKeyframe() // sent
	tr.RequestKeyframe() // pending
	// A VP8 keyframe: S=1, PID=0, frame tag bit 0 clear.
	tr.Write(&Packet{Header: rtp.Header{SSRC: 1, SequenceNumber: 1}, Payload: []byte{0x10, 0x00, 0x9d, 0x01}})
	time.Sleep(500 * time.Millisecond)
	if got := sent.Load(); got != 1 {
		t.Fatalf("requests = %d, want 1: the keyframe answered the pending one", got)
	}
}

func TestAudioTracksNeverRequestKeyframes(t *testing.T) {
	tr := NewTrack(TrackParams{ID: "a", Kind: KindAudio, Codec: Codec{MimeType: "audio/opus", ClockRate: 48000}})
	defer tr.Close()
	tr.SetSource(KeyframeRequesterFunc(func() { t.Error("audio track asked for a keyframe") }))
	tr.RequestKeyframe()
}

func TestSubscriberCloseAndTrackClose(t *testing.T) {
	tr := videoTrack(0)
	c := &collector{}
	s1, _ := tr.Subscribe(c)
	s2, _ := tr.Subscribe(c)
	s1.Close()
	s1.Close()
	if tr.Subscribers() != 1 {
		t.Fatalf("subscribers = %d, want 1", tr.Subscribers())
	}
	tr.Close()
	select {
	case <-s2.Done():
	case <-time.After(time.Second):
		t.Fatal("subscriber not ended by Track.Close")
	}
	if _, err := tr.Subscribe(c); err != ErrTrackClosed {
		t.Fatalf("Subscribe after close: %v", err)
	}
	s2.Close() // after the track closed: must not hang or panic
}

func TestOutTotalsOnlyGrow(t *testing.T) {
	tr := videoTrack(0)
	defer tr.Close()
	c := &collector{}
	s1, _ := tr.Subscribe(c)
	s2, _ := tr.Subscribe(c)
	for i := 0; i < 10; i++ {
		tr.Write(pkt(1, uint16(i), 0))
	}
	waitFor(t, "20 deliveries", func() bool { return len(c.packets()) == 20 })
	if got := tr.Out().Packets; got != 20 {
		t.Fatalf("out packets %d, want 20", got)
	}
	s1.Close()
	s2.Close()
	if got := tr.Out(); got.Packets != 20 || got.Bytes != 60 {
		t.Fatalf("after subscribers left: %+v, want 20 packets 60 bytes", got)
	}
}
