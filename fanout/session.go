package fanout

import (
	"sync"
	"sync/atomic"
)

// Batch brackets what a Session writes in one go: Begin before the first
// packet of a drained batch, End after the last. A viewer's Batch holds
// the datagrams written to its address between the two and sends them as
// one burst (internal/gso). Both run on the session's goroutine.
type Batch interface {
	Begin()
	End()
}

// Session is one consumer's writer, shared by the subscriptions made
// through it (a viewer's audio and video legs): one bounded queue and one
// goroutine for all of them instead of one each. The goroutine wakes on a
// packet, drains what else is queued, and writes it all between the
// Batch's Begin and End, so a video frame the hub delivered at once goes
// to the socket as one burst. Slow-consumer rules are a Subscriber's:
// the hub never blocks, a full queue drops and counts against the
// subscription whose packet it was.
//
// Lifecycle: NewSession → Track.SubscribeIn* → Subscriber.Close* → Close,
// which waits for the goroutine. A subscription's Close does not wait for
// a write already under way on the session's goroutine (it may be called
// from that goroutine, from another subscription's Writer); the session's
// Close does.
type Session struct {
	q     chan entry
	batch Batch
	quit  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	batches, packets atomic.Uint64
}

// entry is a queued packet and the subscription it is for.
type entry struct {
	s *Subscriber
	p *Packet
}

// maxBatch bounds one batch: a keyframe of a few Mbit/s stream is tens of
// packets, and the next wake-up takes the rest.
const maxBatch = 128

// NewSession starts a session whose queue holds queueLen packets across
// its subscriptions (zero: two subscribers' worth, DefaultQueueLen each).
// b may be nil.
func NewSession(queueLen int, b Batch) *Session {
	if queueLen <= 0 {
		queueLen = 2 * DefaultQueueLen
	}
	s := &Session{q: make(chan entry, queueLen), batch: b, quit: make(chan struct{})}
	s.wg.Add(1)
	go s.run()
	return s
}

// Batches and Packets count what the goroutine wrote: Packets/Batches is
// the mean batch, how much a burst can carry.
func (s *Session) Batches() uint64 { return s.batches.Load() }
func (s *Session) Packets() uint64 { return s.packets.Load() }

// offer queues p for sub without blocking; a full queue drops it.
func (s *Session) offer(sub *Subscriber, p *Packet) {
	select {
	case s.q <- entry{sub, p}:
	default:
		sub.stats.Dropped.Add(1)
	}
}

func (s *Session) run() {
	defer s.wg.Done()
	for {
		select {
		case e := <-s.q:
			if s.batch != nil {
				s.batch.Begin()
			}
			n := 1
			e.s.write(e.p)
		drain:
			for ; n < maxBatch; n++ {
				select {
				case e = <-s.q:
					e.s.write(e.p)
				default:
					break drain
				}
			}
			if s.batch != nil {
				s.batch.End()
			}
			s.batches.Add(1)
			s.packets.Add(uint64(n))
		case <-s.quit:
			return
		}
	}
}

// Close stops the goroutine and waits for it; packets still queued are
// discarded. Close the subscriptions first (or their tracks): the
// session does not. Idempotent.
func (s *Session) Close() {
	s.once.Do(func() {
		close(s.quit)
		s.wg.Wait()
	})
}
