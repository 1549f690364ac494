package fanout

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

var opus = TrackParams{ID: "audio", Kind: KindAudio, Codec: Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2}}

// vp8Pkt is a VP8 packet starting a frame: a keyframe or a delta frame.
func vp8Pkt(ssrc uint32, seq uint16, ts uint32, key bool) *Packet {
	body := byte(0x01) // P bit: an inter frame (RFC 6386 §9.1)
	if key {
		body = 0x00
	}
	return &Packet{Header: rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}, Payload: []byte{0x10, body, 0x9d}}
}

type asked struct{ n atomic.Int32 }

func (a *asked) RequestKeyframe() { a.n.Add(1) }

// A standby receives without delivering; armed, it takes over at its first
// keyframe, between two packets: the subscriber sees one SSRC, sequence
// numbers that go on by one, timestamps that never go back, the old
// source's later packets nowhere, and the standby's keyframe first.
func TestStandbyTakesOverAtItsKeyframe(t *testing.T) {
	r := NewRegistry(RegistryParams{})
	defer r.Close()
	live, _ := r.Publish("s")
	lv, la := live.Track(vp8), live.Track(opus)
	live.Settle()
	vc, ac := &collector{}, &collector{}
	if _, err := lv.Subscribe(vc); err != nil {
		t.Fatal(err)
	}
	if _, err := la.Subscribe(ac); err != nil {
		t.Fatal(err)
	}

	sb, err := r.Standby("s")
	if err != nil {
		t.Fatal(err)
	}
	sv, sa := sb.Track(vp8), sb.Track(opus)
	if sv == lv || sa == la {
		t.Fatal("a standby writes into the stream's own tracks")
	}
	kr := &asked{}
	sv.SetSource(kr)

	// Both sources send; only the live one is delivered.
	for i := 0; i < 10; i++ {
		lv.Write(vp8Pkt(111, uint16(1000+i), uint32(9000+3000*i), i == 0))
		la.Write(pkt(112, uint16(500+i), uint32(960*i)))
		sv.Write(vp8Pkt(222, uint16(40000+i), uint32(70000+3000*i), false))
		sa.Write(pkt(223, uint16(7000+i), uint32(480000+960*i)))
	}
	waitFor(t, "the live source's packets", func() bool { return len(vc.packets()) == 10 && len(ac.packets()) == 10 })
	select {
	case <-sb.Live():
		t.Fatal("the standby is live before it was switched")
	default:
	}

	sb.SwitchAtKeyframe()
	if kr.n.Load() != 1 {
		t.Fatalf("arming asked the standby's source for %d keyframes, want 1", kr.n.Load())
	}
	// Delta frames of the standby: still the old source's turn.
	sv.Write(vp8Pkt(222, 40010, 100000, false))
	lv.Write(vp8Pkt(111, 1010, 39000, false))
	// The standby's keyframe: the switch.
	sv.Write(vp8Pkt(222, 40011, 103000, true))
	select {
	case <-sb.Live():
	default:
		t.Fatal("the standby did not take over at its keyframe")
	}
	lv.Write(vp8Pkt(111, 1011, 42000, false)) // the old source, too late
	la.Write(pkt(112, 510, 9600))
	sv.Write(vp8Pkt(222, 40012, 103000, false))
	sa.Write(pkt(223, 7010, 489600))
	waitFor(t, "the standby's packets", func() bool { return len(vc.packets()) == 13 && len(ac.packets()) == 11 })

	got := vc.packets()
	for i := 1; i < len(got); i++ {
		a, b := got[i-1].Header, got[i].Header
		if b.SSRC != a.SSRC || b.SequenceNumber != a.SequenceNumber+1 || int32(b.Timestamp-a.Timestamp) < 0 {
			t.Fatalf("video packet %d: ssrc %d seq %d ts %d after ssrc %d seq %d ts %d", i, b.SSRC, b.SequenceNumber, b.Timestamp, a.SSRC, a.SequenceNumber, a.Timestamp)
		}
	}
	if !lv.isKey(got[11].Payload) {
		t.Fatal("the first packet after the switch is not the standby's keyframe")
	}
	if a := ac.packets(); a[10].Header.SSRC != a[9].Header.SSRC || a[10].Header.SequenceNumber != a[9].Header.SequenceNumber+1 {
		t.Fatalf("audio across the switch: %+v after %+v", a[10].Header, a[9].Header)
	}
	// The old publication's end leaves the stream to the new one.
	live.End()
	if !r.mustGet(t, "s").Live() {
		t.Fatal("the old publisher's end ended the stream the standby feeds")
	}
	lv.RequestKeyframe()
	waitFor(t, "a viewer's keyframe request to reach the new source", func() bool { return kr.n.Load() >= 2 })
	sb.End()
}

func (r *Registry) mustGet(t *testing.T, name string) *Stream {
	t.Helper()
	s, ok := r.Get(name)
	if !ok {
		t.Fatalf("no stream %q", name)
	}
	return s
}

// A standby that ends without taking over leaves the stream as it was;
// one for a stream that did not exist leaves nothing behind.
func TestStandbyThatNeverTakesOver(t *testing.T) {
	r := NewRegistry(RegistryParams{Linger: 20 * time.Millisecond})
	defer r.Close()
	live, _ := r.Publish("s")
	lv := live.Track(vp8)
	live.Settle()
	c := &collector{}
	sub, _ := lv.Subscribe(c)
	sb, _ := r.Standby("s")
	sv := sb.Track(vp8)
	sb.SwitchAtKeyframe()
	sb.End()
	sv.Write(vp8Pkt(222, 1, 1, true)) // a packet in flight at the end
	lv.Write(vp8Pkt(111, 1, 1, true))
	waitFor(t, "the live packet", func() bool { return len(c.packets()) == 1 })
	if c.packets()[0].Header.SSRC != 111 {
		t.Fatal("a standby that ended delivered a packet")
	}
	select {
	case <-sub.Done():
		t.Fatal("the standby's end ended a viewer")
	default:
	}

	orphan, _ := r.Standby("nobody")
	orphan.Track(vp8)
	orphan.End()
	waitFor(t, "the standby's empty stream to go", func() bool { _, ok := r.Get("nobody"); return !ok })
}

// A standby with a track of another codec replaces the stream's: its
// viewers negotiated the old codec, so they end, as on a reconnect.
func TestStandbyWithAnotherCodec(t *testing.T) {
	r := NewRegistry(RegistryParams{})
	defer r.Close()
	live, _ := r.Publish("s")
	old := live.Track(vp8)
	live.Settle()
	sub, _ := old.Subscribe(&collector{})
	sb, _ := r.Standby("s")
	h264 := TrackParams{ID: "video", Kind: KindVideo, Codec: Codec{MimeType: "video/H264", ClockRate: 90000}}
	nv := sb.Track(h264)
	sb.Promote()
	<-sb.Live()
	select {
	case <-sub.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("the old codec's viewer is still attached")
	}
	if tr := r.mustGet(t, "s").Tracks(); len(tr) != 1 || tr[0] != nv {
		t.Fatalf("tracks after the switch: %v", tr)
	}
	live.End()
	sb.End()
}

// A standby that took over, then its stream's next standby: the first
// one's inputs stop delivering at the second switch.
func TestStandbyAfterStandby(t *testing.T) {
	r := NewRegistry(RegistryParams{})
	defer r.Close()
	live, _ := r.Publish("s")
	lv := live.Track(vp8)
	live.Settle()
	c := &collector{}
	_, _ = lv.Subscribe(c)
	seq := uint16(0)
	next := func() uint16 { seq++; return seq }
	lv.Write(vp8Pkt(1, next(), 0, true))
	var prev *Track
	for n, ssrc := range []uint32{2, 3, 4} {
		sb, _ := r.Standby("s")
		in := sb.Track(vp8)
		sb.SwitchAtKeyframe()
		in.Write(vp8Pkt(ssrc, next(), 0, true))
		if prev != nil {
			prev.Write(vp8Pkt(99, next(), 0, false)) // the superseded standby
		}
		<-sb.Live()
		prev = in
		want := n + 2
		waitFor(t, "the switches", func() bool { return len(c.packets()) == want })
	}
	for i, p := range c.packets() {
		if p.Header.SequenceNumber != c.packets()[0].Header.SequenceNumber+uint16(i) {
			t.Fatalf("packet %d: seq %d", i, p.Header.SequenceNumber)
		}
	}
}

// A publisher taken over by a standby is a standby itself: when the one
// that took over ends, it takes over again at its keyframe, and the
// subscriber still sees one stream.
func TestTakenOverPublisherTakesOverAgain(t *testing.T) {
	r := NewRegistry(RegistryParams{})
	defer r.Close()
	primary, _ := r.Publish("s")
	pv := primary.Track(vp8)
	primary.Settle()
	c := &collector{}
	_, _ = pv.Subscribe(c)
	pv.Write(vp8Pkt(1, 100, 0, true))

	backup, _ := r.Standby("s")
	backup.SwitchAtKeyframe() // armed before its tracks exist (a WHIP offer not yet answered)
	bv := backup.Track(vp8)
	backup.Settle()
	bv.Write(vp8Pkt(2, 500, 0, true))
	<-backup.Live()
	if !primary.Waiting() || backup.Waiting() {
		t.Fatalf("after the switch: primary waiting %v, backup waiting %v", primary.Waiting(), backup.Waiting())
	}
	pv.Write(vp8Pkt(1, 101, 3000, false)) // dropped: no longer live
	bv.Write(vp8Pkt(2, 501, 3000, false))

	ended := make(chan bool, 1)
	backup.OnEnd(func(live bool) { ended <- live })
	backup.End()
	if !<-ended {
		t.Fatal("OnEnd says the live backup was not live")
	}
	primary.SwitchAtKeyframe()
	pv.Write(vp8Pkt(1, 102, 6000, false)) // not a keyframe: still waiting
	pv.Write(vp8Pkt(1, 103, 9000, true))
	<-primary.Live()
	pv.Write(vp8Pkt(1, 104, 12000, false))
	waitFor(t, "five packets", func() bool { return len(c.packets()) == 5 })
	for i, p := range c.packets() {
		if p.Header.SequenceNumber != c.packets()[0].Header.SequenceNumber+uint16(i) || p.Header.SSRC != 1 {
			t.Fatalf("packet %d: ssrc %d seq %d", i, p.Header.SSRC, p.Header.SequenceNumber)
		}
	}
	if !r.mustGet(t, "s").Live() {
		t.Fatal("the stream is not live after the primary took over again")
	}
	primary.End()
}

// An armed standby with audio only takes over when its tracks are made.
func TestAudioOnlyStandbyTakesOverAtSettle(t *testing.T) {
	r := NewRegistry(RegistryParams{})
	defer r.Close()
	live, _ := r.Publish("s")
	live.Track(opus)
	live.Settle()
	sb, _ := r.Standby("s")
	sb.SwitchAtKeyframe()
	sb.Track(opus)
	sb.Settle()
	select {
	case <-sb.Live():
	case <-time.After(time.Second):
		t.Fatal("an armed audio-only standby did not take over when settled")
	}
	live.End()
	sb.End()
}

// A standby armed before its tracks exist (a WHIP offer not yet answered)
// asks its source for a keyframe once it has one.
func TestArmedStandbyAsksItsNewSource(t *testing.T) {
	r := NewRegistry(RegistryParams{})
	defer r.Close()
	live, _ := r.Publish("s")
	live.Track(vp8)
	live.Settle()
	sb, _ := r.Standby("s")
	sb.SwitchAtKeyframe()
	in := sb.Track(vp8)
	kr := &asked{}
	in.SetSource(kr)
	waitFor(t, "a keyframe request", func() bool { return kr.n.Load() == 1 })
	live.End()
	sb.End()
}
