package recorder

import (
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
)

func newRecorder(t *testing.T, reg *fanout.Registry, p Params) *Recorder {
	t.Helper()
	p.Registry, p.Log = reg, quietLog()
	if p.Dir == "" {
		p.Dir = t.TempDir()
	}
	r, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Ten seconds of H.264 + Opus make five segments of two seconds, cut at
// keyframes, with an index that adds up.
func TestRecordsSegmentsAtKeyframes(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 50 * time.Millisecond})
	defer reg.Close()
	r := newRecorder(t, reg, Params{All: true})
	src := newSource(t, reg, "cam")
	waitFor(t, waitLong, "the recording to start", func() bool { _, ok := r.Recording("cam"); return ok })
	src.play(300)
	src.pub.End()
	waitFor(t, waitLong, "the recording to end", func() bool { _, ok := r.Recording("cam"); return !ok })

	list := r.List()
	if len(list) != 1 {
		t.Fatalf("%d recordings, want 1", len(list))
	}
	m := list[0]
	if m.Live || m.Stream != "cam" || len(m.Codecs) != 2 || m.Codecs[0] != "H264" || m.Codecs[1] != "opus" {
		t.Fatalf("index %+v", m)
	}
	if math.Abs(m.DurationS-10) > 0.1 || len(m.Segments) != 5 {
		t.Fatalf("duration %.3f s in %d segments, want 10 s in 5", m.DurationS, len(m.Segments))
	}
	var size int64
	for i, s := range m.Segments {
		if math.Abs(s.DurationS-2) > 0.05 || math.Abs(s.StartS-float64(2*i)) > 0.05 {
			t.Fatalf("segment %d: %+v, want 2 s from %d s", i, s, 2*i)
		}
		size += s.Size
	}
	if size != m.Size || r.Stats().Bytes.Load() == 0 {
		t.Fatalf("sizes: segments %d, index %d", size, m.Size)
	}
	if o := src.v.Out(); o.Dropped != 0 {
		t.Fatalf("the recorder dropped %d video packets", o.Dropped)
	}
}

// After a crash (kill -9) the folder holds segments the index does not
// list, a half-written .tmp and an index still marked live: New puts it
// right before serving anything.
func TestRebuildAfterCrash(t *testing.T) {
	dir := t.TempDir()
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 50 * time.Millisecond})
	defer reg.Close()
	r := newRecorder(t, reg, Params{Dir: dir, All: true})
	src := newSource(t, reg, "cam")
	waitFor(t, waitLong, "the recording to start", func() bool { _, ok := r.Recording("cam"); return ok })
	src.play(150)
	src.pub.End()
	waitFor(t, waitLong, "the recording to end", func() bool { _, ok := r.Recording("cam"); return !ok })
	m := r.List()[0]
	rec := filepath.Join(dir, "cam", m.ID)

	// What a crash leaves: a stale index that lists one segment and says
	// live, a torn write.
	stale := m
	stale.Live, stale.Segments = true, stale.Segments[:1]
	if err := writeIndex(OSFS{}, rec, &stale); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(rec, "00000009.m4s.tmp"), []byte("torn"), 0o644)
	_ = os.MkdirAll(filepath.Join(dir, "cam", "20260101T000000Z"), 0o755) // crashed before its first segment

	r2 := newRecorder(t, fanout.NewRegistry(fanout.RegistryParams{}), Params{Dir: dir})
	list := r2.List()
	if len(list) != 1 {
		t.Fatalf("%d recordings after the rebuild, want 1 (the empty one removed)", len(list))
	}
	got := list[0]
	if got.Live || len(got.Segments) != len(m.Segments) || math.Abs(got.DurationS-m.DurationS) > 0.01 || !got.Start.Equal(m.Start) {
		t.Fatalf("rebuilt index %+v\nwant the recording's %+v", got, m)
	}
	if _, err := os.Stat(filepath.Join(rec, "00000009.m4s.tmp")); !os.IsNotExist(err) {
		t.Fatal("the torn .tmp was left behind")
	}
}

// Retention deletes the oldest finished recordings first and never the one
// being written, however small the bound.
func TestRetentionKeepsTheLiveRecording(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 50 * time.Millisecond})
	defer reg.Close()
	r := newRecorder(t, reg, Params{All: true})
	var finished []Meta
	for i := 0; i < 3; i++ {
		src := newSource(t, reg, "cam")
		waitFor(t, 2*time.Second, "a recording", func() bool { _, ok := r.Recording("cam"); return ok })
		src.play(70)
		src.pub.End()
		waitFor(t, waitLong, "the recording to end", func() bool { _, ok := r.Recording("cam"); return !ok })
		waitFor(t, 2*time.Second, "the stream to go", func() bool { _, ok := reg.Get("cam"); return !ok })
	}
	finished = r.List() // newest first
	live := newSource(t, reg, "cam")
	waitFor(t, 2*time.Second, "the live recording", func() bool { _, ok := r.Recording("cam"); return ok })
	live.play(70)
	liveID, _ := r.Recording("cam")
	waitFor(t, 2*time.Second, "a segment of the live recording", func() bool { m, _, err := r.Get("cam", liveID); return err == nil && len(m.Segments) > 0 })

	var total int64
	for _, m := range r.List() {
		total += m.Size
	}
	r.p.MaxBytes = total - 1 // over by one byte: only the oldest goes
	r.retain()
	left := r.List()
	if len(left) != 3 || left[len(left)-1].ID != finished[1].ID {
		t.Fatalf("after trimming one byte: %v, want the oldest (%s) gone", ids(left), finished[2].ID)
	}
	r.p.MaxBytes, r.p.MaxAge = 0, time.Nanosecond // by age: every finished one is too old
	r.retain()
	if left := r.List(); len(left) != 1 || left[0].ID != liveID || !left[0].Live {
		t.Fatalf("with a 1 ns age bound: %v, want only the live %s", ids(left), liveID)
	}
	live.pub.End()
}

func ids(ms []Meta) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// fullDisk fails every write while full is set, as a full disk does
// (ENOSPC).
type fullDisk struct {
	OSFS
	full atomic.Bool
}

type fullFile struct {
	File
	d *fullDisk
}

func (d *fullDisk) Create(name string) (File, error) {
	f, err := d.OSFS.Create(name)
	if err != nil {
		return nil, err
	}
	return &fullFile{File: f, d: d}, nil
}

func (f *fullFile) Write(b []byte) (int, error) {
	if f.d.full.Load() {
		return 0, &os.PathError{Op: "write", Path: "recording", Err: syscall.ENOSPC}
	}
	return f.File.Write(b)
}

// A full disk pauses the recording with a log line and a metric, and
// backs off (1 s, then 2 s, ...) rather than retrying at every packet or
// starting a new recording every second (once, seven empty recordings in
// 20 s, each listed); the live stream keeps flowing to its other
// subscribers; the segments written before stay listed and playable; when
// space returns, the same recording goes on.
func TestFullDiskPausesTheRecordingAndResumesIt(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 50 * time.Millisecond})
	defer reg.Close()
	disk := &fullDisk{}
	r := newRecorder(t, reg, Params{All: true, FS: disk})
	src := newSource(t, reg, "cam")
	waitFor(t, waitLong, "the recording to start", func() bool { _, ok := r.Recording("cam"); return ok })
	id, _ := r.Recording("cam")
	viewer := &counter{}
	sub, err := src.v.Subscribe(viewer)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	src.play(150)
	waitFor(t, waitLong, "segments before the disk fills", func() bool { l := r.List(); return len(l) == 1 && len(l[0].Segments) >= 2 })
	before := len(r.List()[0].Segments)

	disk.full.Store(true)
	seen := viewer.n.Load()
	src.playRealtime(100) // 3.3 s: fails, 1 s back off, fails, 2 s back off
	if viewer.n.Load() <= seen {
		t.Fatal("the live stream stopped for its viewer when the disk filled")
	}
	if n := r.Stats().Errors.Load(); n < 1 || n > 3 {
		t.Fatalf("%d failures counted in 3.3 s on a full disk, want 1 to 3 (backing off)", n)
	}
	list := r.List()
	if len(list) != 1 || list[0].ID != id || !list[0].Live || len(list[0].Segments) != before {
		t.Fatalf("while the disk is full: %+v, want the one recording, live, with its %d segments", list, before)
	}
	for _, s := range list[0].Segments {
		if _, err := os.Stat(filepath.Join(r.Dir(), "cam", id, s.Name)); err != nil {
			t.Fatalf("listed segment %s: %v", s.Name, err)
		}
	}

	disk.full.Store(false)
	src.playRealtime(150) // past the backoff, then keyframes every second
	waitFor(t, waitLong, "the recording to resume", func() bool { l := r.List(); return len(l) == 1 && len(l[0].Segments) > before })
	src.pub.End()
	waitFor(t, waitLong, "the recording to end", func() bool { _, ok := r.Recording("cam"); return !ok })
	list = r.List()
	if len(list) != 1 || list[0].ID != id || list[0].Live {
		t.Fatalf("after the disk had room again: %+v, want the one recording, finished", list)
	}
	for _, s := range list[0].Segments {
		if _, err := os.Stat(filepath.Join(r.Dir(), "cam", id, s.Name)); err != nil {
			t.Fatalf("listed segment %s: %v", s.Name, err)
		}
	}
}

type counter struct{ n atomic.Int64 }

func (c *counter) WritePacket(*fanout.Packet) error { c.n.Add(1); return nil }
