package recorder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// recording is one recording folder and its index as far as it is on disk:
// a segment is listed once its file has its final name. The session
// writes it from its writer; List and Get read it while it is live.
type recording struct {
	dir string

	mu   sync.Mutex
	meta Meta
}

// snapshot is a copy of the index, safe to hand out.
func (r *recording) snapshot() Meta {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.meta
	m.Segments = append([]Segment(nil), r.meta.Segments...)
	m.Codecs = append([]string(nil), r.meta.Codecs...)
	return m
}

// segments is how many segments are listed.
func (r *recording) segments() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.meta.Segments)
}

func (r *recording) id() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.meta.ID
}

type jobKind int

const (
	jobFragment jobKind = iota // append a fragment to the open segment
	jobClose                   // sync the open segment and give it its name
	jobFinish                  // write the final index (or discard an empty folder)
)

// job is one piece of disk work, in order.
type job struct {
	kind  jobKind
	rec   *recording
	epoch int
	init  []byte  // with a segment's first fragment: init.mp4, written once per folder
	name  string  // the segment's file name
	data  []byte  // the fragment
	seg   Segment // with jobClose: what the index gains
}

// writer does a session's disk work on its own goroutine, so a slow or
// full disk never holds up the packets the session takes in: fragments
// are appended to the open segment (NAME.part), which is synced and
// renamed when it closes, then the folder is synced (the rename itself
// survives a power cut); the index is written when the recording ends (a
// crash has rebuild() remake it from the files). A failed write fails
// every later job of its epoch, until the session starts a new epoch once
// it has backed off.
type writer struct {
	fs    FS
	wrote func(n int64)
	jobs  chan job
	done  chan struct{}

	open     File   // the open segment, or nil
	openPath string // its .part path
	inits    map[string]bool

	mu       sync.Mutex
	err      error
	errEpoch int
}

// writerQueue bounds the fragments waiting for the disk (about 8 s at the
// default segment length) before the session blocks; the fanout queue then
// drops for the recording alone.
const writerQueue = 16

func newWriter(fs FS, wrote func(int64)) *writer {
	w := &writer{fs: fs, wrote: wrote, jobs: make(chan job, writerQueue), done: make(chan struct{}), inits: map[string]bool{}, errEpoch: -1}
	go w.run()
	return w
}

// close waits for the jobs queued so far and ends the goroutine.
func (w *writer) close() {
	close(w.jobs)
	<-w.done
}

// failure is the error that failed epoch, if one did.
func (w *writer) failure(epoch int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.errEpoch == epoch {
		return w.err
	}
	return nil
}

func (w *writer) run() {
	defer close(w.done)
	for j := range w.jobs {
		if w.failure(j.epoch) != nil && j.kind != jobFinish {
			continue // this epoch has failed: its remaining work is moot
		}
		var err error
		switch j.kind {
		case jobFragment:
			err = w.fragment(j)
		case jobClose:
			err = w.closeSegment(j)
		case jobFinish:
			w.finish(j)
		}
		if err != nil {
			w.abandon()
			w.mu.Lock()
			w.err, w.errEpoch = err, j.epoch
			w.mu.Unlock()
		}
	}
	w.abandon()
}

func (w *writer) fragment(j job) error {
	if j.init != nil && !w.inits[j.rec.dir] {
		if err := writeFileAtomic(w.fs, filepath.Join(j.rec.dir, InitName), j.init); err != nil {
			return fmt.Errorf("write %s: %w", InitName, err)
		}
		w.inits[j.rec.dir] = true
	}
	path := filepath.Join(j.rec.dir, j.name+partSuffix)
	if w.open == nil || w.openPath != path {
		w.abandon()
		f, err := w.fs.Create(path)
		if err != nil {
			return fmt.Errorf("create %s: %w", j.name, err)
		}
		w.open, w.openPath = f, path
	}
	if _, err := w.open.Write(j.data); err != nil {
		return fmt.Errorf("write %s: %w", j.name, err)
	}
	return nil
}

func (w *writer) closeSegment(j job) error {
	if w.open == nil {
		return errors.New("no open segment to close")
	}
	f, part := w.open, w.openPath
	w.open, w.openPath = nil, ""
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.fs.Rename(part, filepath.Join(j.rec.dir, j.name))
	}
	if err == nil {
		err = w.fs.SyncDir(j.rec.dir)
	}
	if err != nil {
		_ = w.fs.Remove(part)
		return fmt.Errorf("close %s: %w", j.name, err)
	}
	j.rec.mu.Lock()
	m := &j.rec.meta
	m.Segments = append(m.Segments, j.seg)
	m.DurationS = j.seg.StartS + j.seg.DurationS
	m.End = m.Start.Add(secondsDuration(m.DurationS))
	m.Size += j.seg.Size
	j.rec.mu.Unlock()
	w.wrote(j.seg.Size)
	return nil
}

// finish ends a recording: its final index, or, with nothing playable in
// it, no folder at all (an empty recording is never listed).
func (w *writer) finish(j job) {
	j.rec.mu.Lock()
	j.rec.meta.Live = false
	m := j.rec.meta
	j.rec.mu.Unlock()
	if len(m.Segments) == 0 {
		_ = os.RemoveAll(j.rec.dir)
		return
	}
	if err := writeIndex(w.fs, j.rec.dir, &m); err != nil {
		// rebuild() remakes it from the files at the next start.
		w.mu.Lock()
		w.err, w.errEpoch = fmt.Errorf("write the index: %w", err), j.epoch
		w.mu.Unlock()
	}
}

// abandon closes and removes a segment left open by a failure or the end.
func (w *writer) abandon() {
	if w.open == nil {
		return
	}
	_ = w.open.Close()
	_ = w.fs.Remove(w.openPath)
	w.open, w.openPath = nil, ""
}
