package fanout

import (
	"sync/atomic"
	"testing"
	"time"
)

func audioTrack() *Track {
	return NewTrack(TrackParams{ID: "audio", Kind: KindAudio, Codec: Codec{MimeType: "audio/opus", ClockRate: 48000}})
}

// Sessions in a pool of two writers each get every packet of two tracks,
// in order, inside their own Begin/End (BeginInto with a worker's Sender,
// flushed after each turn); closing them and then the pool leaves no
// goroutine behind (TestMain's leak check).
func TestWritersCarrySessionsInOrder(t *testing.T) {
	video, audio := videoTrack(0), audioTrack()
	defer video.Close()
	defer audio.Close()
	var flushes atomic.Int32
	w := NewWriters(2, func() Sender { return flushCounter{&flushes} })
	defer w.Close()
	const viewers = 40
	type viewer struct {
		sess   *Session
		b      *bracket
		vw, aw *bracketed
	}
	vs := make([]viewer, viewers)
	for i := range vs {
		b := &bracket{}
		v := viewer{sess: NewSessionIn(w, 0, b), b: b, vw: &bracketed{b: b}, aw: &bracketed{b: b}}
		if _, err := video.SubscribeIn(v.sess, v.vw); err != nil {
			t.Fatal(err)
		}
		if _, err := audio.SubscribeIn(v.sess, v.aw); err != nil {
			t.Fatal(err)
		}
		vs[i] = v
	}
	const frames, perFrame = 40, 6
	for f := range frames {
		for i := range perFrame {
			video.Write(framePkt(1, uint16(f*perFrame+i), uint32(f), i, perFrame))
		}
		audio.Write(pkt(2, uint16(f), uint32(f)))
	}
	for i, v := range vs {
		waitFor(t, "every packet", func() bool { return len(v.vw.packets()) == frames*perFrame && len(v.aw.packets()) == frames })
		for k, p := range v.vw.packets() {
			if p.Header.SequenceNumber != uint16(k) {
				t.Fatalf("viewer %d: video packet %d is seq %d", i, k, p.Header.SequenceNumber)
			}
		}
		for k, p := range v.aw.packets() {
			if p.Header.SequenceNumber != uint16(k) {
				t.Fatalf("viewer %d: audio packet %d is seq %d", i, k, p.Header.SequenceNumber)
			}
		}
		if v.vw.outside.Load()+v.aw.outside.Load() != 0 || v.b.wrong.Load() != 0 {
			t.Fatalf("viewer %d: %d writes outside a batch, %d unbalanced Begin/End", i, v.vw.outside.Load()+v.aw.outside.Load(), v.b.wrong.Load())
		}
		if v.sess.Batches() > 2*frames {
			t.Fatalf("viewer %d: %d batches for %d frames and their audio", i, v.sess.Batches(), frames)
		}
	}
	for _, v := range vs {
		if v.b.into.Load() == 0 {
			t.Fatal("a session's Batch was never begun into its worker's Sender")
		}
		v.sess.Close()
	}
	if flushes.Load() == 0 {
		t.Fatal("no worker flushed its Sender")
	}
}

// flushCounter is a worker's Sender that counts its flushes.
type flushCounter struct{ n *atomic.Int32 }

func (f flushCounter) Flush() { f.n.Add(1) }

// A session's Close waits for a write a worker has under way, and nothing
// is written for it after; the pool's other sessions go on.
func TestWritersSessionCloseWaitsForItsWrite(t *testing.T) {
	slowTrack, other := videoTrack(0), videoTrack(0)
	defer slowTrack.Close()
	defer other.Close()
	w := NewWriters(2, nil)
	defer w.Close()
	release := make(chan struct{})
	slow, fast := NewSessionIn(w, 0, nil), NewSessionIn(w, 0, nil)
	defer fast.Close()
	sw, fw := &collector{block: release}, &collector{}
	if _, err := slowTrack.SubscribeIn(slow, sw); err != nil {
		t.Fatal(err)
	}
	if _, err := other.SubscribeIn(fast, fw); err != nil {
		t.Fatal(err)
	}
	slowTrack.Write(pkt(1, 0, 0)) // its write blocks a worker
	time.Sleep(20 * time.Millisecond)
	for i := range 10 {
		other.Write(pkt(1, uint16(i), uint32(i)))
	}
	waitFor(t, "the other session's packets, past a blocked one", func() bool { return len(fw.packets()) == 10 })
	closed := make(chan struct{})
	go func() { slow.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while the session's write was under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	slowTrack.Write(pkt(1, 1, 1))
	time.Sleep(20 * time.Millisecond)
	if n := len(sw.packets()); n != 1 {
		t.Fatalf("%d packets written for the closed session, want the 1 under way", n)
	}
}

// A session that lets audio ride holds an audio packet for the end of
// the next video frame and sends both in one batch; a second audio packet
// wakes the writer at once; with no video coming, audio goes at once
// after rideWhile packets; a session that does not ride sends each. (The
// time bound is TestARidingPacketWaitsNoLongerThanRideMax's.)
func TestSessionLetsAudioRideWithTheNextFrame(t *testing.T) {
	video, audio, w, sess, vw, aw := ridingSession(t, time.Hour)
	quiet := func(what string, v, a int) {
		t.Helper()
		time.Sleep(50 * time.Millisecond)
		if len(vw.packets()) != v || len(aw.packets()) != a {
			t.Fatalf("%s: %d video and %d audio packets written, want %d and %d", what, len(vw.packets()), len(aw.packets()), v, a)
		}
	}
	video.Write(framePkt(1, 0, 0, 0, 1))
	waitFor(t, "the first frame", func() bool { return len(vw.packets()) == 1 })
	audio.Write(pkt(2, 0, 0))
	quiet("an audio packet after a frame", 1, 0)
	video.Write(framePkt(1, 1, 1, 0, 2))
	quiet("and the next frame's first packet", 1, 0)
	batches := sess.Batches()
	video.Write(framePkt(1, 2, 1, 1, 2))
	waitFor(t, "the audio with the frame", func() bool { return len(vw.packets()) == 3 && len(aw.packets()) == 1 })
	if sess.Batches() != batches+1 {
		t.Fatalf("the audio and the frame went in %d batches, want 1", sess.Batches()-batches)
	}
	audio.Write(pkt(2, 1, 1))
	quiet("one audio packet", 3, 1)
	audio.Write(pkt(2, 2, 2))
	waitFor(t, "two audio packets, woken by the second", func() bool { return len(aw.packets()) == 3 })
	audio.Write(pkt(2, 3, 3)) // the third since the frame: video has stopped
	waitFor(t, "audio with no video coming, at once", func() bool { return len(aw.packets()) == 4 })

	plain := NewSessionIn(w, 0, nil)
	defer plain.Close()
	pw := &collector{}
	if _, err := audio.SubscribeIn(plain, pw); err != nil {
		t.Fatal(err)
	}
	audio.Write(pkt(2, 4, 4))
	waitFor(t, "audio in a session that does not ride, at once", func() bool { return len(pw.packets()) == 1 })
}

// A riding audio packet with nothing after it (audio and video paused
// together, as at a publisher's stall) goes out once it has waited
// rideMax: the pool's watch wakes its writer.
func TestARidingPacketWaitsNoLongerThanRideMax(t *testing.T) {
	video, audio, _, sess, vw, aw := ridingSession(t, rideMax)
	video.Write(framePkt(1, 0, 0, 0, 1))
	waitFor(t, "the frame", func() bool { return len(vw.packets()) == 1 })
	batches := sess.Batches()
	audio.Write(pkt(2, 0, 0))
	waitFor(t, "the lone audio packet, past rideMax", func() bool { return len(aw.packets()) == 1 })
	if sess.Batches() != batches+1 {
		t.Fatalf("%d batches for the lone audio packet, want 1", sess.Batches()-batches)
	}
}

// ridingSession is a pool of one writer whose packets ride at most
// rideFor, and a session in it that lets audio ride, subscribed to a video
// and an audio track; all close with the test, the pool last.
func ridingSession(t *testing.T, rideFor time.Duration) (video, audio *Track, w *Writers, sess *Session, vw, aw *collector) {
	t.Helper()
	video, audio = videoTrack(0), audioTrack()
	w = NewWriters(1, nil)
	t.Cleanup(w.Close) // after the session's, which is registered later
	w.rideMax = rideFor
	sess = NewSessionIn(w, 0, nil)
	sess.Ride()
	t.Cleanup(func() { sess.Close(); video.Close(); audio.Close() })
	vw, aw = &collector{}, &collector{}
	if _, err := video.SubscribeIn(sess, vw); err != nil {
		t.Fatal(err)
	}
	if _, err := audio.SubscribeIn(sess, aw); err != nil {
		t.Fatal(err)
	}
	return video, audio, w, sess, vw, aw
}
