package fanout

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bracket is a Batch that checks Begin and End alternate and counts them.
type bracket struct {
	open                atomic.Bool
	begins, wrong, into atomic.Int32
}

// BeginInto makes bracket a SendsAt: it counts the batches begun into a
// worker's Sender.
func (b *bracket) BeginInto(Sender) {
	b.into.Add(1)
	b.Begin()
}

func (b *bracket) Begin() {
	if b.open.Swap(true) {
		b.wrong.Add(1)
	}
	b.begins.Add(1)
}

func (b *bracket) End() {
	if !b.open.Swap(false) {
		b.wrong.Add(1)
	}
}

// bracketed is a Writer that checks each write falls inside a batch.
type bracketed struct {
	collector
	b       *bracket
	outside atomic.Int32
}

func (w *bracketed) WritePacket(p *Packet) error {
	if !w.b.open.Load() {
		w.outside.Add(1)
	}
	return w.collector.WritePacket(p)
}

// Two tracks' subscriptions through one session get every packet in
// order, on one goroutine, inside Begin/End; a burst written at once is
// drained as a few batches, not one per packet.
func TestSessionCarriesSeveralTracksInBatches(t *testing.T) {
	video, audio := videoTrack(0), NewTrack(TrackParams{ID: "audio", Kind: KindAudio, Codec: Codec{MimeType: "audio/opus", ClockRate: 48000}})
	defer video.Close()
	defer audio.Close()
	b := &bracket{}
	sess := NewSession(0, b)
	defer sess.Close()
	vw, aw := &bracketed{b: b}, &bracketed{b: b}
	vs, err := video.SubscribeIn(sess, vw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audio.SubscribeIn(sess, aw); err != nil {
		t.Fatal(err)
	}
	const frames, perFrame = 50, 8
	for f := range frames {
		for i := range perFrame {
			video.Write(framePkt(1, uint16(f*perFrame+i), uint32(f), i, perFrame))
		}
		audio.Write(pkt(2, uint16(f), uint32(f)))
	}
	waitFor(t, "every packet", func() bool { return len(vw.packets()) == frames*perFrame && len(aw.packets()) == frames })
	for i, p := range vw.packets() {
		if p.Header.SequenceNumber != uint16(i) {
			t.Fatalf("video packet %d is seq %d", i, p.Header.SequenceNumber)
		}
	}
	if vw.outside.Load()+aw.outside.Load() != 0 || b.wrong.Load() != 0 {
		t.Fatalf("%d writes outside a batch, %d unbalanced Begin/End", vw.outside.Load()+aw.outside.Load(), b.wrong.Load())
	}
	// Woken at a frame's end and at each audio packet, the writer takes
	// each frame whole.
	if sess.Packets() != frames*(perFrame+1) || sess.Batches() > 2*frames {
		t.Fatalf("%d packets in %d batches: want %d in at most %d", sess.Packets(), sess.Batches(), frames*(perFrame+1), 2*frames)
	}
	if got := vs.Stats().Packets.Load(); got != frames*perFrame {
		t.Fatalf("the video subscription counts %d packets, want %d", got, frames*perFrame)
	}
}

// A session that cannot keep up drops (and counts against the
// subscription) instead of blocking the hub.
func TestSessionDropsWhenFull(t *testing.T) {
	tr := videoTrack(0)
	defer tr.Close()
	release := make(chan struct{})
	sess := NewSession(4, nil)
	defer sess.Close()
	w := &collector{block: release}
	s, err := tr.SubscribeIn(sess, w)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		tr.Write(pkt(1, uint16(i), 0)) // returns at once: the hub never waits
	}
	close(release)
	waitFor(t, "the queued packets", func() bool { return int(s.Stats().Packets.Load())+int(s.Stats().Dropped.Load()) == 20 })
	// Held at most: the batch being written (what was queued when it was
	// taken, up to 4) and a full queue behind it.
	if s.Stats().Dropped.Load() < 20-2*4 {
		t.Fatalf("%d dropped of 20 with a queue of 4", s.Stats().Dropped.Load())
	}
}

// A subscription closed from another subscription's Writer, on the
// session's own goroutine (a simulcast leg retiring its old layer), stops
// at once without deadlock, a packet already queued for it included; the
// track keeps its counts.
func TestSessionSubscriptionClosedFromTheSessionGoroutine(t *testing.T) {
	a, b, c := videoTrack(0), videoTrack(0), videoTrack(0)
	defer a.Close()
	defer b.Close()
	defer c.Close()
	sess := NewSession(0, nil)
	defer sess.Close()
	old := &collector{}
	oldSub, err := a.SubscribeIn(sess, old)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closer := writerFunc(func(*Packet) error {
		once.Do(oldSub.Close)
		return nil
	})
	if _, err := b.SubscribeIn(sess, closer); err != nil {
		t.Fatal(err)
	}
	gate := &collector{block: make(chan struct{})}
	if _, err := c.SubscribeIn(sess, gate); err != nil {
		t.Fatal(err)
	}
	a.Write(pkt(1, 0, 0))
	waitFor(t, "the first packet", func() bool { return len(old.packets()) == 1 })
	c.Write(pkt(3, 0, 0)) // holds the session until the gate opens
	b.Write(pkt(2, 0, 0)) // closes old
	a.Write(pkt(1, 1, 0)) // queued for old behind it
	close(gate.block)
	<-oldSub.Done()
	waitFor(t, "the queue drained", func() bool { return sess.Packets() == 4 })
	if len(old.packets()) != 1 || a.Subscribers() != 0 || a.Out().Packets != 1 {
		t.Fatalf("closed subscription: %d written, track has %d subscribers and %d packets out", len(old.packets()), a.Subscribers(), a.Out().Packets)
	}
}

type writerFunc func(*Packet) error

func (f writerFunc) WritePacket(p *Packet) error { return f(p) }

// The writer is woken at the end of a frame, not before: a frame's
// packets wait for its last (marked) one and go as one batch. A frame
// whose marker never comes is closed by the next frame's first packet; a
// queue of wakeAt packets wakes the writer whatever came.
func TestSessionWakesAtTheEndOfAFrame(t *testing.T) {
	tr := videoTrack(0)
	defer tr.Close()
	sess := NewSession(4*wakeAt, nil)
	defer sess.Close()
	w := &collector{}
	if _, err := tr.SubscribeIn(sess, w); err != nil {
		t.Fatal(err)
	}
	const n = 8
	seq := uint16(0)
	write := func(ts uint32, i int) {
		tr.Write(framePkt(1, seq, ts, i, n))
		seq++
	}
	quiet := func(what string, want int) {
		t.Helper()
		time.Sleep(50 * time.Millisecond)
		if got := len(w.packets()); got != want {
			t.Fatalf("%s: %d packets written, want %d", what, got, want)
		}
	}

	for i := range n - 1 {
		write(1, i)
	}
	quiet("a frame without its last packet", 0)
	write(1, n-1)
	waitFor(t, "the frame", func() bool { return len(w.packets()) == n })
	if sess.Batches() != 1 {
		t.Fatalf("a frame went in %d batches, want 1", sess.Batches())
	}

	for i := range n - 1 { // its marked packet is lost
		write(2, i)
	}
	quiet("a frame whose last packet was lost", n)
	write(3, 0) // the next frame begins
	waitFor(t, "the frame that lost its last packet", func() bool { return len(w.packets()) == 2*n })

	for range wakeAt - 1 { // a source that marks nothing and never moves its timestamp
		write(3, 0)
	}
	quiet("a queue one short of wakeAt", 2*n)
	write(3, 0)
	waitFor(t, "a queue of wakeAt packets", func() bool { return len(w.packets()) == 2*n+wakeAt })
}
