package fanout

import (
	"errors"
	"sort"
	"sync"
	"time"
)

// ErrStreamBusy is returned by Publish when the stream already has a
// publisher.
var ErrStreamBusy = errors.New("stream is already being published")

// ErrRegistryClosed is returned once the registry has been closed.
var ErrRegistryClosed = errors.New("registry closed")

// DefaultLinger is how long a stream outlives its publisher, waiting for it
// to come back.
const DefaultLinger = 10 * time.Second

// RegistryParams configures a Registry.
type RegistryParams struct {
	Linger           time.Duration // zero means DefaultLinger
	KeyframeInterval time.Duration // zero means DefaultKeyframeInterval
	// OnChange, if set, is called (without locks held, from the goroutine
	// that made the change) after a stream appears, changes or ends.
	OnChange func()
	// OnStreamEnd, if set, is called once per stream after it has closed
	// (its publisher did not come back, or the registry closed), without
	// locks held. It may do I/O: it runs on the linger timer's goroutine or
	// in Close.
	OnStreamEnd func(name string)
}

// Registry maps stream names to streams on one node.
type Registry struct {
	linger           time.Duration
	keyframeInterval time.Duration
	onChange         func()
	onEnd            func(string)

	mu      sync.Mutex
	streams map[string]*Stream
	closed  bool
}

// NewRegistry makes an empty registry.
func NewRegistry(p RegistryParams) *Registry {
	if p.Linger <= 0 {
		p.Linger = DefaultLinger
	}
	if p.KeyframeInterval <= 0 {
		p.KeyframeInterval = DefaultKeyframeInterval
	}
	return &Registry{linger: p.Linger, keyframeInterval: p.KeyframeInterval, onChange: p.OnChange, onEnd: p.OnStreamEnd, streams: map[string]*Stream{}}
}

// Publish claims stream name for a publisher. A stream that is lingering is
// taken over (continuity); one with a live publisher gives ErrStreamBusy.
func (r *Registry) Publish(name string) (*Publication, error) {
	s, err := r.stream(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.pub != nil {
		s.mu.Unlock()
		return nil, ErrStreamBusy
	}
	if s.linger != nil {
		s.linger.Stop()
		s.linger = nil
	}
	p := &Publication{s: s, claimed: map[*Track]bool{}}
	s.pub = p
	s.mu.Unlock()
	r.changed()
	return p, nil
}

// stream returns the stream called name, made if there is none.
func (r *Registry) stream(name string) (*Stream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrRegistryClosed
	}
	s := r.streams[name]
	if s == nil {
		s = &Stream{name: name, reg: r, created: time.Now(), done: make(chan struct{})}
		r.streams[name] = s
	}
	return s, nil
}

// Get returns the stream called name, if any.
func (r *Registry) Get(name string) (*Stream, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.streams[name]
	return s, ok
}

// Streams returns every stream, sorted by name.
func (r *Registry) Streams() []*Stream {
	r.mu.Lock()
	out := make([]*Stream, 0, len(r.streams))
	for _, s := range r.streams {
		out = append(out, s)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (r *Registry) expire(s *Stream) {
	s.mu.Lock()
	stale := s.pub == nil && !s.closed
	s.mu.Unlock()
	if !stale {
		return
	}
	r.mu.Lock()
	if r.streams[s.name] == s {
		delete(r.streams, s.name)
	}
	r.mu.Unlock()
	s.close()
	r.ended(s.name)
	r.changed()
}

func (r *Registry) ended(name string) {
	if r.onEnd != nil {
		r.onEnd(name)
	}
}

func (r *Registry) changed() {
	if r.onChange != nil {
		r.onChange()
	}
}

// Close ends every stream. Publications still held become inert.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	streams := r.streams
	r.streams = map[string]*Stream{}
	r.mu.Unlock()
	for _, s := range streams {
		s.close()
		r.ended(s.name)
	}
}
