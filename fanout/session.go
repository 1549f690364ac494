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
	batch Batch
	max   int // queued entries at most
	wake  chan struct{}
	quit  atomic.Bool // Close's word, sent with a wake-up
	once  sync.Once
	wg    sync.WaitGroup

	// The queue is a slice under a mutex, not a channel: the hub appends
	// and wakes the goroutine only when the queue was empty, and the
	// goroutine takes everything queued in one swap. A channel cost a
	// lock and often a wake-up per packet per viewer: 5-8% more of the
	// node's CPU at 100 and 300 viewers (loadtest -capacity).
	mu    sync.Mutex
	q     []entry
	woken bool    // a wake-up was sent for what q holds; under mu
	spare []entry // the goroutine's: the slice the last batch was in

	batches, packets atomic.Uint64
}

// wakeAt is how many queued packets wake the writer even before a frame
// ends (or a full queue, if smaller): what one GSO send carries.
const wakeAt = 64

// entry is a queued packet and the subscription it is for.
type entry struct {
	s *Subscriber
	p *Packet
}

// NewSession starts a session whose queue holds queueLen packets across
// its subscriptions (zero: two subscribers' worth, DefaultQueueLen each).
// b may be nil.
func NewSession(queueLen int, b Batch) *Session {
	if queueLen <= 0 {
		queueLen = 2 * DefaultQueueLen
	}
	s := &Session{max: queueLen, batch: b, wake: make(chan struct{}, 1)}
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
	s.mu.Lock()
	if len(s.q) >= s.max {
		s.mu.Unlock()
		sub.stats.Dropped.Add(1)
		return
	}
	s.q = append(s.q, entry{sub, p})
	// The writer is woken at the end of what the source sent at once (a
	// frame's last packet; any audio packet), not at its first packet: a
	// woken writer drains at once, so on a busy core it took a frame in
	// pieces, a send each. A frame is not decodable before its last
	// packet anyway. A queue past wakeAt wakes it whatever came.
	wake := !s.woken && (p.ends || len(s.q) >= min(wakeAt, s.max))
	if wake {
		s.woken = true
	}
	s.mu.Unlock()
	if wake {
		select {
		case s.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// pending is how many packets wait.
func (s *Session) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q)
}

func (s *Session) run() {
	defer s.wg.Done()
	// One channel, not a select with a quit channel: a select per
	// wake-up costs twice a receive.
	for range s.wake {
		if s.quit.Load() {
			return
		}
		for s.drain() {
		}
	}
}

// drain writes what is queued as one batch; false when nothing was.
func (s *Session) drain() bool {
	s.mu.Lock()
	batch := s.q
	s.q = s.spare[:0]
	s.woken = false
	s.mu.Unlock()
	if len(batch) == 0 {
		s.spare = batch
		return false
	}
	if s.batch != nil {
		s.batch.Begin()
	}
	for _, e := range batch {
		e.s.write(e.p)
	}
	if s.batch != nil {
		s.batch.End()
	}
	s.batches.Add(1)
	s.packets.Add(uint64(len(batch)))
	clear(batch) // the packets are the GC's again
	s.spare = batch[:0]
	return true
}

// Close stops the goroutine and waits for it; packets still queued are
// discarded. Close the subscriptions first (or their tracks): the
// session does not. Idempotent.
func (s *Session) Close() {
	s.once.Do(func() {
		s.quit.Store(true)
		select {
		case s.wake <- struct{}{}:
		default: // a wake-up is pending: the goroutine sees quit after it
		}
		s.wg.Wait()
	})
}
