package recorder

import (
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
)

// playOnRequest is play for a publisher that sends a keyframe only at the
// start and when asked (a browser; a GOP of 60 s or more): every other
// frame is a delta frame. Frames are at least 3 ms of wall time apart (ten
// times real time): keyframe requests are coalesced in wall time (10 ms
// here), and a faster pace would answer them frames later than any
// publisher does.
func (s *source) playOnRequest(frames int, key []byte, deltas [][]byte, asked *atomic.Bool) (keyframes int) {
	s.playFrames(frames, func(i int) []byte {
		time.Sleep(3 * time.Millisecond)
		if i == 0 || asked.Swap(false) {
			keyframes++
			return key
		}
		return deltas[i%len(deltas)]
	})
	return keyframes
}

// Segments are cut at their target length whatever the publisher's GOP:
// the recorder asks for a keyframe itself when a segment is due (before,
// a publisher that sends keyframes only on request made one segment of the
// whole stream, listed only once it ended).
func TestSegmentsCutOnTimeWhateverTheGOP(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 50 * time.Millisecond, KeyframeInterval: 10 * time.Millisecond})
	defer reg.Close()
	r := newRecorder(t, reg, Params{All: true})
	src := newSourceOf(t, reg, "cam", "vp8")
	var asked atomic.Bool
	src.v.SetSource(fanout.KeyframeRequesterFunc(func() { asked.Store(true) }))
	key, deltas := vp8KeyAndDeltas(src.aus)
	waitFor(t, waitLong, "the recording to start", func() bool { _, ok := r.Recording("cam"); return ok })
	keyframes := src.playOnRequest(300, key, deltas, &asked) // 10 s
	src.pub.End()
	waitFor(t, waitLong, "the recording to end", func() bool { _, ok := r.Recording("cam"); return !ok })

	list := r.List()
	if len(list) != 1 {
		t.Fatalf("%d recordings, want 1", len(list))
	}
	m := list[0]
	if len(m.Segments) < 4 || len(m.Segments) > 6 || math.Abs(m.DurationS-10) > 0.2 {
		t.Fatalf("%.2f s in %d segments from %d keyframes, want about 10 s in 5 segments of 2 s", m.DurationS, len(m.Segments), keyframes)
	}
	for i, s := range m.Segments[:len(m.Segments)-1] {
		// Cut at the first keyframe after the target: the request's
		// coalescing and a frame or two of answer.
		if s.DurationS < 1.99 || s.DurationS > 2.4 {
			t.Fatalf("segment %d is %.3f s, want 2 s (a few frames more at most)", i, s.DurationS)
		}
	}
	if keyframes > 12 {
		t.Fatalf("%d keyframes asked for 5 segments: the recorder asks too often", keyframes)
	}
}

// A publisher that cannot be asked for keyframes (RTMP, RTSP; here a
// GOP longer than the stream) still has its recording cut and listed: a
// segment asked for and not answered within a further segment is cut
// without one, and says so (HLS then drops EXT-X-INDEPENDENT-SEGMENTS).
func TestSegmentsCutWhenKeyframesNeverCome(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 50 * time.Millisecond, KeyframeInterval: 10 * time.Millisecond})
	defer reg.Close()
	r := newRecorder(t, reg, Params{All: true})
	src := newSourceOf(t, reg, "cam", "vp8")
	var ignored atomic.Bool // asked, and never answered
	src.v.SetSource(fanout.KeyframeRequesterFunc(func() { ignored.Store(true) }))
	key, deltas := vp8KeyAndDeltas(src.aus)
	waitFor(t, waitLong, "the recording to start", func() bool { _, ok := r.Recording("cam"); return ok })
	src.playFrames(300, func(i int) []byte { // 10 s, one keyframe
		if i == 0 {
			return key
		}
		return deltas[i%len(deltas)]
	})
	waitFor(t, waitLong, "a segment listed while live", func() bool { l := r.List(); return len(l) == 1 && len(l[0].Segments) > 0 })
	src.pub.End()
	waitFor(t, waitLong, "the recording to end", func() bool { _, ok := r.Recording("cam"); return !ok })
	m := r.List()[0]
	if len(m.Segments) != 3 || math.Abs(m.DurationS-10) > 0.2 || !ignored.Load() {
		t.Fatalf("%.2f s in %d segments (keyframes asked: %v), want 10 s in segments of 4, 4 and 2 s", m.DurationS, len(m.Segments), ignored.Load())
	}
	for i, s := range m.Segments {
		if s.NoKeyframe != (i > 0) {
			t.Fatalf("segment %d: no_keyframe %v", i, s.NoKeyframe)
		}
		if i < 2 && math.Abs(s.DurationS-4) > 0.05 {
			t.Fatalf("segment %d is %.3f s, want 4 s (twice the target: asked, then not answered)", i, s.DurationS)
		}
	}
}

// vp8KeyAndDeltas splits VP8 frames into the first keyframe and the
// delta frames.
func vp8KeyAndDeltas(frames [][]byte) (key []byte, deltas [][]byte) {
	for _, f := range frames {
		if len(f) > 0 && f[0]&0x01 == 0 { // VP8 frame tag: 0 is a keyframe (RFC 6386 §9.1)
			if key == nil {
				key = f
			}
		} else {
			deltas = append(deltas, f)
		}
	}
	return key, deltas
}

// The registry's OnChange, Start and the loop's tick all start sessions:
// when two started the same stream at once, both made the folder of the
// same second, and the loser's abort deleted it under the winner, whose
// every write then failed (seen with a Chromium publisher under load).
func TestConcurrentStartsShareNoFolder(t *testing.T) {
	for round := 0; round < 20; round++ {
		reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 20 * time.Millisecond})
		dir := t.TempDir()
		r := newRecorder(t, reg, Params{Dir: dir, All: true})
		src := newSource(t, reg, "cam")
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); r.Changed() }()
		}
		wg.Wait()
		id, ok := r.Recording("cam")
		if !ok {
			t.Fatalf("round %d: not recording", round)
		}
		if _, err := os.Stat(filepath.Join(dir, "cam", id)); err != nil {
			t.Fatalf("round %d: the live recording's folder: %v", round, err)
		}
		if ids, _ := os.ReadDir(filepath.Join(dir, "cam")); len(ids) != 1 {
			t.Fatalf("round %d: %d folders for one recording", round, len(ids))
		}
		src.play(90)
		src.pub.End()
		waitFor(t, waitLong, "the recording to end", func() bool { _, ok := r.Recording("cam"); return !ok })
		if l := r.List(); len(l) != 1 || len(l[0].Segments) == 0 {
			t.Fatalf("round %d: recordings %+v", round, l)
		}
		r.Close()
		reg.Close()
	}
}
