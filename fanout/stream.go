package fanout

import (
	"sync"
	"time"

	"github.com/relaymesh/relaymesh/internal/codec"
)

// Stream is a named broadcast: the tracks one publisher sends. It outlives a
// publisher by the registry's linger time, so a publisher that reconnects
// finds its tracks again and the viewers attached to them keep playing.
//
// Lifecycle: created by Registry.Publish → published ⇄ lingering → closed
// (linger expired or Registry.Close). Methods are safe from any goroutine.
type Stream struct {
	name    string
	reg     *Registry
	created time.Time

	mu       sync.Mutex
	tracks   []*Track
	pub      *Publication // nil while lingering
	linger   *time.Timer
	closed   bool
	lastSeen time.Time
	done     chan struct{}
}

// Name is the stream name.
func (s *Stream) Name() string { return s.name }

// Done is closed when the stream has ended.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Tracks returns the stream's current tracks.
func (s *Stream) Tracks() []*Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Track(nil), s.tracks...)
}

// Live reports whether a publisher is attached.
func (s *Stream) Live() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pub != nil
}

// Publication is one publisher's hold on a stream. Its methods are safe from
// any goroutine; End is idempotent.
type Publication struct {
	s       *Stream
	claimed map[*Track]bool
	ended   bool
	standby standby
	onEnd   func(wasLive bool)
}

// OnEnd sets f to be called once, after End, without locks held; wasLive
// says whether the publication was feeding the stream (not a standby).
// Set it before handing the publication to its source.
func (p *Publication) OnEnd(f func(wasLive bool)) { p.onEnd = f }

// Stream is the publication's stream.
func (p *Publication) Stream() *Stream { return p.s }

// Track returns the stream's track for (id, kind, codec), creating it if the
// stream has none. A lingering track with the same identity and codec is
// reused, which is what keeps viewers playing across a reconnect; one with
// another codec is closed, since its viewers negotiated the old codec.
func (p *Publication) Track(params TrackParams) *Track {
	s := p.s
	var stale *Track
	defer func() {
		// Closing waits for the stale track's subscriber goroutines, whose
		// writers may call back into the stream: never under s.mu.
		if stale != nil {
			stale.Close()
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if params.KeyframeInterval == 0 {
		params.KeyframeInterval = s.reg.keyframeInterval
	}
	if p.standby.waiting && !p.ended && !s.closed {
		return p.input(params)
	}
	if s.pub != p || s.closed {
		return nil
	}
	for i, t := range s.tracks {
		if t.id != params.ID {
			continue
		}
		if t.kind == params.Kind && codec.Same(t.codec, params.Codec) && !p.claimed[t] {
			// A new publication of a lingering stream is a new source,
			// whatever its protocol: RTMP and RTSP publishers keep one
			// SSRC across reconnects and restart their numbering, so
			// the epoch cannot be left to the SSRC (viewers saw a random
			// sequence jump and timestamps back at FLV zero).
			t.newSrc.Store(true)
			t.feedFrom(t) // fed by a standby's input before the stream lingered
			p.claimed[t] = true
			return t
		}
		stale = t
		s.tracks = append(s.tracks[:i], s.tracks[i+1:]...)
		break
	}
	t := NewTrack(params)
	s.tracks = append(s.tracks, t)
	p.claimed[t] = true
	return t
}

// Settle closes the tracks of an earlier publisher that this one did not
// claim (a publisher that came back without video, say). Call it once all of
// this publication's tracks exist.
func (p *Publication) Settle() {
	s := p.s
	s.mu.Lock()
	if s.pub != p { // a standby settles when it takes over
		s.mu.Unlock()
		p.settleStandby()
		return
	}
	var keep, stale []*Track
	for _, t := range s.tracks {
		if p.claimed[t] {
			keep = append(keep, t)
		} else {
			stale = append(stale, t)
		}
	}
	s.tracks = keep
	s.mu.Unlock()
	for _, t := range stale {
		t.Close() // waits for subscriber goroutines: not under s.mu
	}
	s.reg.changed() // without the lock: OnChange may read the stream
}

// End releases the stream name: the stream lingers so that a reconnecting
// publisher can continue it, then closes.
func (p *Publication) End() {
	s := p.s
	defer p.closeInputs()
	s.mu.Lock()
	first := !p.ended
	if first && p.onEnd != nil {
		live := s.pub == p
		defer func() { p.onEnd(live) }()
	}
	if p.ended || s.pub != p {
		p.ended = true
		if s.pub == nil && s.linger == nil && !s.closed {
			// A standby that never took over, of a stream it made.
			s.linger = time.AfterFunc(s.reg.linger, func() { s.reg.expire(s) })
		}
		s.mu.Unlock()
		return
	}
	p.ended = true
	s.pub = nil
	s.lastSeen = time.Now()
	for _, t := range s.tracks {
		t.SetSource(nil)
	}
	if !s.closed {
		s.linger = time.AfterFunc(s.reg.linger, func() { s.reg.expire(s) })
	}
	s.mu.Unlock()
	s.reg.changed()
}

// EndNow ends the stream at once, with no grace for the publisher to come
// back: for a source that leaves because nobody watches (an idle relay).
func (p *Publication) EndNow() {
	p.End()
	p.s.reg.expire(p.s)
}

// close ends every track; the registry has already forgotten the stream.
func (s *Stream) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.linger != nil {
		s.linger.Stop()
	}
	tracks := s.tracks
	s.tracks = nil
	close(s.done)
	s.mu.Unlock()
	for _, t := range tracks {
		t.Close()
	}
}
