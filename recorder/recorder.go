package recorder

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
)

// Params configures a Recorder.
type Params struct {
	Dir      string
	Registry *fanout.Registry
	// All records every stream the registry carries; otherwise only the
	// streams Start names.
	All bool
	// Segment is the target segment length (cut at the first keyframe
	// after it); zero means 2 s.
	Segment time.Duration
	// MaxAge and MaxBytes bound what is kept (zero: no bound); the oldest
	// finished recordings go first, never one being written.
	MaxAge   time.Duration
	MaxBytes int64
	// MaxDuration bounds one recording (zero: none): past it, or past half
	// of MaxBytes, a live recording rolls over into a new one at a keyframe.
	MaxDuration time.Duration
	Log         *slog.Logger
	FS          FS // zero: the real file system
}

// Stats are counters for metrics.
type Stats struct {
	Active    atomic.Int64
	Bytes     atomic.Uint64
	Errors    atomic.Uint64
	Rollovers atomic.Uint64 // live recordings ended at -record-max-duration or -size
}

// ErrNotCarried is returned by Start for a stream this node does not carry.
var ErrNotCarried = errors.New("this node does not carry the stream")

// Recorder records streams of a registry. Lifecycle: New (rebuilds every
// index from the files) → Changed/Start/Stop → Close (finishes every
// recording). Methods are safe from any goroutine.
type Recorder struct {
	p     Params
	stats Stats

	// syncMu makes sync one at a time: the registry's OnChange, Start and
	// the loop's tick all call it, and two that started the same stream
	// in the same second once made one folder, and the loser's abort
	// deleted the winner's folder (its recording then failed every write).
	syncMu sync.Mutex

	mu       sync.Mutex
	sessions map[string]*session // by stream
	wanted   map[string]bool     // started through the API
	stopped  map[string]bool     // stopped through the API (with All)
	closed   bool

	quit   chan struct{}
	wg     sync.WaitGroup // the loop
	sessWG sync.WaitGroup // the sessions' goroutines
}

// New opens the recording folder, rebuilds the index of every recording in
// it from its files, and starts watching the registry.
func New(p Params) (*Recorder, error) {
	if p.Segment <= 0 {
		p.Segment = 2 * time.Second
	}
	if p.FS == nil {
		p.FS = OSFS{}
	}
	if err := p.FS.MkdirAll(p.Dir); err != nil {
		return nil, fmt.Errorf("recording folder: %w", err)
	}
	r := &Recorder{p: p, sessions: map[string]*session{}, wanted: map[string]bool{}, stopped: map[string]bool{}, quit: make(chan struct{})}
	if err := r.rebuild(); err != nil {
		return nil, err
	}
	r.wg.Add(1)
	go r.loop()
	return r, nil
}

// Stats returns the counters.
func (r *Recorder) Stats() *Stats { return &r.stats }

// Dir is the recording folder.
func (r *Recorder) Dir() string { return r.p.Dir }

// Changed tells the recorder the registry changed (a stream's tracks are
// all there). It starts the new recordings at once, on the caller's
// goroutine (a folder is made and the tracks subscribed, nothing more), so
// that the frame a publisher writes next, often the stream's first
// keyframe, is already recorded.
func (r *Recorder) Changed() { r.sync() }

// Start records stream from now on (and whenever it is published again)
// until Stop.
func (r *Recorder) Start(stream string) error {
	if _, ok := r.p.Registry.Get(stream); !ok {
		return ErrNotCarried
	}
	r.mu.Lock()
	r.wanted[stream] = true
	delete(r.stopped, stream)
	r.mu.Unlock()
	r.sync()
	return nil
}

// Stop ends stream's recording and records it no more until Start. It
// reports whether a recording was running.
func (r *Recorder) Stop(stream string) bool {
	r.mu.Lock()
	delete(r.wanted, stream)
	r.stopped[stream] = true
	s := r.sessions[stream]
	r.mu.Unlock()
	if s == nil {
		return false
	}
	s.stop()
	return true
}

// Recording reports whether stream is being recorded, and its id.
func (r *Recorder) Recording(stream string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.sessions[stream]; ok {
		return s.rec.Load().id(), true
	}
	return "", false
}

func (r *Recorder) loop() {
	defer r.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-r.quit:
			return
		case <-tick.C:
			if n%5 == 0 {
				r.retain()
			}
		}
		r.sync()
	}
}

// sync starts a session for every stream that should be recorded and has
// tracks.
func (r *Recorder) sync() {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	for _, st := range r.p.Registry.Streams() {
		r.mu.Lock()
		// A simulcast stream records its top layer, known once the
		// layers have a second of bitrate: until then, a later sync.
		_, measured := fanout.TopLayers(st.Tracks())
		want := !r.closed && (r.p.All && !r.stopped[st.Name()] || r.wanted[st.Name()]) && r.sessions[st.Name()] == nil && len(st.Tracks()) > 0 && st.Live() && measured
		r.mu.Unlock()
		if !want {
			continue
		}
		s, err := r.startSession(st)
		if err != nil {
			r.p.Log.Warn("not recording", "stream", st.Name(), "err", err)
			continue
		}
		// The session is in the map before its goroutine starts, so its
		// end (which takes it out) cannot come first and leave a dead
		// session in the map: its stream would never be recorded again.
		r.mu.Lock()
		if r.closed || r.sessions[st.Name()] != nil {
			r.mu.Unlock()
			s.abort()
			continue
		}
		r.sessions[st.Name()] = s
		r.stats.Active.Add(1)
		r.sessWG.Add(1)
		go func() { defer r.sessWG.Done(); s.run() }()
		r.mu.Unlock()
		r.p.Log.Info("recording", "stream", st.Name(), "id", s.rec.Load().id(), "codecs", s.rec.Load().meta.Codecs)
	}
}

// newFolder makes DIR/stream/ID for a recording starting at start.
func (r *Recorder) newFolder(stream string, start time.Time) (id, dir string, err error) {
	base := start.Format(idLayout)
	for n := 1; n < 1000; n++ {
		id = base
		if n > 1 {
			id = fmt.Sprintf("%s-%d", base, n)
		}
		dir = filepath.Join(r.p.Dir, stream, id)
		if err := r.p.FS.MkdirAll(filepath.Dir(dir)); err != nil {
			return "", "", err
		}
		// Mkdir, not MkdirAll: the folder is claimed only by whoever
		// creates it, so two recordings never share one.
		err = os.Mkdir(dir, 0o755)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return id, dir, err
	}
	return "", "", fmt.Errorf("no free recording id at %s", base)
}

// ended forgets a finished session.
func (r *Recorder) ended(s *session) {
	r.mu.Lock()
	if r.sessions[s.stream.Name()] == s {
		delete(r.sessions, s.stream.Name())
	}
	r.mu.Unlock()
	r.stats.Active.Add(-1)
	m := s.rec.Load().snapshot()
	r.p.Log.Info("recording ended", "stream", m.Stream, "id", m.ID, "duration_s", m.DurationS, "segments", len(m.Segments))
}

// paused reports a recording paused on a failed write (a full disk, say):
// the live stream is not touched, what was written stays playable, and it
// resumes after backoff.
func (r *Recorder) paused(s *session, err error, backoff time.Duration) {
	r.stats.Errors.Add(1)
	rec := s.rec.Load()
	r.p.Log.Error("recording paused: a write failed", "stream", s.stream.Name(), "id", rec.id(), "err", err,
		"segments_kept", rec.segments(), "retry_in", backoff)
}

func (r *Recorder) wrote(n int64) { r.stats.Bytes.Add(uint64(n)) }

// SegmentBound is the longest a segment can be: one asked for a keyframe
// and not answered is cut at twice the target (plus the frame that crosses
// it), whatever the publisher's GOP.
func (r *Recorder) SegmentBound() time.Duration { return 2*r.p.Segment + 100*time.Millisecond }

func (r *Recorder) segmentUnits(tr *mp4Track) int64 {
	return r.p.Segment.Nanoseconds() * int64(tr.timescale) / int64(time.Second)
}

// Close finishes every recording (their last segments are written) and
// stops watching.
func (r *Recorder) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	sessions := make([]*session, 0, len(r.sessions))
	for _, s := range r.sessions {
		sessions = append(sessions, s)
	}
	r.mu.Unlock()
	close(r.quit)
	r.wg.Wait()
	for _, s := range sessions {
		s.stop()
	}
	r.sessWG.Wait()
}

// live returns the recordings being written that have a segment on disk,
// by stream and id.
func (r *Recorder) liveRecordings() map[string]Meta {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]Meta{}
	for _, s := range r.sessions {
		if rec := s.rec.Load(); rec.segments() > 0 {
			m := rec.snapshot()
			out[m.Stream+"/"+m.ID] = m
		}
	}
	return out
}

// List returns every recording, newest first: those on disk, and those
// being written as far as they are on disk (one with no segment yet is not
// listed).
func (r *Recorder) List() []Meta {
	live := r.liveRecordings()
	out := make([]Meta, 0, len(live))
	for _, m := range live {
		out = append(out, m)
	}
	streams, _ := os.ReadDir(r.p.Dir)
	for _, st := range streams {
		if !st.IsDir() || !ValidStream(st.Name()) {
			continue
		}
		ids, _ := os.ReadDir(filepath.Join(r.p.Dir, st.Name()))
		for _, id := range ids {
			if !id.IsDir() || !ValidID(id.Name()) {
				continue
			}
			if _, ok := live[st.Name()+"/"+id.Name()]; ok {
				continue
			}
			if m, err := readIndex(filepath.Join(r.p.Dir, st.Name(), id.Name())); err == nil {
				m.Live = false // an index left by a crash may still say live
				out = append(out, *m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	return out
}

// Get returns one recording's index and folder.
func (r *Recorder) Get(stream, id string) (*Meta, string, error) {
	if !ValidStream(stream) || !ValidID(id) {
		return nil, "", os.ErrNotExist
	}
	dir := filepath.Join(r.p.Dir, stream, id)
	r.mu.Lock()
	s := r.sessions[stream]
	r.mu.Unlock()
	// Only this stream's session: Get serves every HLS segment request.
	if s != nil {
		if rec := s.rec.Load(); rec.id() == id && rec.segments() > 0 {
			m := rec.snapshot()
			return &m, dir, nil
		}
	}
	m, err := readIndex(dir)
	if err != nil {
		return nil, dir, err
	}
	m.Live = false
	return m, dir, nil
}

// ErrLive is returned when deleting a recording still being written.
var ErrLive = errors.New("the recording is still being written")

// Delete removes a finished recording.
func (r *Recorder) Delete(stream, id string) error {
	m, dir, err := r.Get(stream, id)
	if err != nil {
		return err
	}
	if cur, ok := r.Recording(stream); ok && cur == m.ID {
		return ErrLive
	}
	return os.RemoveAll(dir)
}
