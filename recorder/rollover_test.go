package recorder

import (
	"math"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
)

// A live recording is bounded: past MaxDuration it rolls over into a new
// recording at a keyframe, which starts at time 0; the recordings follow
// one another without a gap or an overlap, and all of the stream is kept.
func TestLongRecordingRollsOver(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 50 * time.Millisecond})
	defer reg.Close()
	r := newRecorder(t, reg, Params{All: true, MaxDuration: 4 * time.Second})
	src := newSource(t, reg, "cam")
	waitFor(t, waitLong, "the recording to start", func() bool { _, ok := r.Recording("cam"); return ok })
	src.play(300) // 10 s
	src.pub.End()
	waitFor(t, 10*time.Second, "the recording to end", func() bool { _, ok := r.Recording("cam"); return !ok })

	list := r.List() // newest first
	if len(list) != 3 {
		t.Fatalf("%d recordings of 10 s with a 4 s bound, want 3 (4 s, 4 s, 2 s)", len(list))
	}
	var total float64
	for i := len(list) - 1; i >= 0; i-- {
		m := list[i]
		if m.Live || len(m.Segments) == 0 || m.Segments[0].StartS > 0.05 {
			t.Fatalf("recording %s: %+v, want finished and starting at 0", m.ID, m)
		}
		if m.DurationS > 4.1 {
			t.Fatalf("recording %s is %.2f s, past the 4 s bound", m.ID, m.DurationS)
		}
		if i < len(list)-1 {
			prev := list[i+1]
			if gap := m.Start.Sub(prev.Start).Seconds() - prev.DurationS; math.Abs(gap) > 0.05 {
				t.Fatalf("recording %s starts %.3f s after the one before ends", m.ID, gap)
			}
		}
		total += m.DurationS
	}
	if math.Abs(total-10) > 0.1 {
		t.Fatalf("the recordings hold %.2f s of 10 s", total)
	}
	if n := r.Stats().Rollovers.Load(); n != 2 {
		t.Fatalf("%d rollovers counted, want 2", n)
	}
}

// Past half of MaxBytes a live recording rolls over too, so retention can
// keep the one before while the new one grows.
func TestBigRecordingRollsOver(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 50 * time.Millisecond})
	defer reg.Close()
	r := newRecorder(t, reg, Params{All: true, MaxBytes: 600 << 10}) // about 3 s of the test media per half
	src := newSource(t, reg, "cam")
	waitFor(t, waitLong, "the recording to start", func() bool { _, ok := r.Recording("cam"); return ok })
	first, _ := r.Recording("cam")
	src.play(300)
	if n := r.Stats().Rollovers.Load(); n < 2 {
		t.Fatalf("%d rollovers for 10 s of about 100 KB/s with a bound of 600 KiB, want at least 2", n)
	}
	if id, _ := r.Recording("cam"); id == first {
		t.Fatal("still writing the first recording")
	}
	src.pub.End()
}

// A stream that ends the moment it starts, again and again, leaves no
// session behind: once, an ended session could be put back in the map
// after its end (its goroutine started first), and the stream was never
// recorded again, its recording stuck "live".
func TestQuickEndsLeaveNoSessionBehind(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: time.Millisecond})
	defer reg.Close()
	r := newRecorder(t, reg, Params{All: true})
	for i := 0; i < 30; i++ {
		src := newSource(t, reg, "cam")
		src.pub.End()
		waitFor(t, waitLong, "the stream to end", func() bool { _, ok := reg.Get("cam"); return !ok })
	}
	waitFor(t, waitLong, "every session to end", func() bool { _, ok := r.Recording("cam"); return !ok })
	src := newSource(t, reg, "cam")
	waitFor(t, waitLong, "the recording to start", func() bool { _, ok := r.Recording("cam"); return ok })
	src.play(90)
	src.pub.End()
	waitFor(t, waitLong, "the recording to end", func() bool { _, ok := r.Recording("cam"); return !ok })
	if list := r.List(); len(list) != 1 || list[0].Live || math.Abs(list[0].DurationS-3) > 0.1 {
		t.Fatalf("after 30 quick ends and 3 s published: %+v, want one finished recording of 3 s", list)
	}
}
