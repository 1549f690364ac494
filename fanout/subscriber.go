package fanout

import (
	"sync"
	"sync/atomic"
)

// Writer receives a subscriber's packets, one at a time, on the subscriber's
// own goroutine. It may block; that delays only this subscriber, whose queue
// then fills and drops. A returned error is counted, not fatal: transports
// report transient write errors that the next packet does not repeat.
type Writer interface {
	WritePacket(p *Packet) error
}

// Subscriber is one consumer of a Track with its own bounded queue and
// goroutine, or one of a Session's subscriptions, which share the
// session's. Lifecycle: Track.Subscribe or Track.SubscribeIn → running →
// Close (or Track.Close).
type Subscriber struct {
	t      *Track
	w      Writer
	q      chan *Packet // nil in a session
	sess   *Session
	closed atomic.Bool // a session's subscription: its writes stop
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	stats SubscriberStats
}

// SubscriberStats are counters readable at any time.
type SubscriberStats struct {
	Packets     atomic.Uint64
	Bytes       atomic.Uint64
	Dropped     atomic.Uint64 // lost because the queue was full
	WriteErrors atomic.Uint64
}

func newSubscriber(t *Track, w Writer, queueLen int) *Subscriber {
	s := &Subscriber{t: t, w: w, quit: make(chan struct{}), done: make(chan struct{})}
	if queueLen > 0 {
		s.q = make(chan *Packet, queueLen)
	}
	return s
}

// Track is the track this subscriber reads.
func (s *Subscriber) Track() *Track { return s.t }

// Stats returns the subscriber's counters.
func (s *Subscriber) Stats() *SubscriberStats { return &s.stats }

// Done is closed once the subscriber has stopped, by Close or because its
// track closed. Owners select on it to notice the end of the stream.
func (s *Subscriber) Done() <-chan struct{} { return s.done }

// offer queues p without blocking; on a full queue the packet is dropped.
func (s *Subscriber) offer(p *Packet) {
	if s.sess != nil {
		s.sess.offer(s, p)
		return
	}
	select {
	case s.q <- p:
	default:
		s.stats.Dropped.Add(1)
	}
}

func (s *Subscriber) start() {
	s.wg.Add(1)
	go s.run()
}

func (s *Subscriber) run() {
	defer s.wg.Done()
	for {
		select {
		case p := <-s.q:
			s.write(p)
		case <-s.quit:
			return
		}
	}
}

// write hands p to the Writer and counts it, unless a session's
// subscription has been closed.
func (s *Subscriber) write(p *Packet) {
	if s.closed.Load() {
		return
	}
	if err := s.w.WritePacket(p); err != nil {
		s.stats.WriteErrors.Add(1)
		return
	}
	s.stats.Packets.Add(1)
	s.stats.Bytes.Add(uint64(len(p.Payload)))
}

// Close removes the subscriber from its track and waits for its goroutine.
// Packets still queued are discarded. Idempotent; safe from any goroutine
// except the subscriber's own Writer. A session's subscription does not
// wait: its writes stop, and Session.Close waits for the goroutine.
func (s *Subscriber) Close() {
	s.stop()
	s.t.retire(s)
}

func (s *Subscriber) stop() {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.quit)
		s.wg.Wait() // nothing to wait for in a session
		close(s.done)
	})
}
