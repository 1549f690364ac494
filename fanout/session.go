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
// writer for all of them instead of one each. The writer wakes at the end
// of a frame, drains what is queued, and writes it all between the
// Batch's Begin and End, so a video frame the hub delivered at once goes
// to the socket as one burst. The writer is a goroutine of the session's
// own (NewSession), or a worker of a Writers pool shared by many sessions
// (NewSessionIn, writers.go). Slow-consumer rules are a Subscriber's: the
// hub never blocks, a full queue drops and counts against the
// subscription whose packet it was.
//
// Lifecycle: NewSession (or NewSessionIn) → Track.SubscribeIn* →
// Subscriber.Close* → Close, which waits for the writer. A subscription's
// Close does not wait for a write already under way on the session's
// writer (it may be called from there, from another subscription's
// Writer); the session's Close does.
type Session struct {
	batch Batch
	max   int // queued entries at most
	wake  chan struct{}
	quit  atomic.Bool // Close's word, sent with a wake-up
	once  sync.Once
	wg    sync.WaitGroup
	// In Writers (writers.go) instead of a goroutine of its own: its
	// worker drains the session (under run, which Close waits on).
	pool   *Writers
	worker *writer
	run    sync.Mutex

	// The queue is a slice under a mutex, not a channel: the hub appends
	// and wakes the writer once per frame (offer), and the writer takes
	// everything queued in one swap. A channel cost a
	// lock and often a wake-up per packet per viewer: 5-8% more of the
	// node's CPU at 100 and 300 viewers (loadtest -capacity).
	mu    sync.Mutex
	q     []entry
	woken bool // a wake-up was sent for what q holds; under mu
	// Audio riding with video (Ride), under mu: whether to, whether an
	// audio packet waits, and how many came since a video frame ended.
	ride, riding bool
	sinceFrame   int
	rodeAt       atomic.Int64 // when the riding packet came (Unix ns), 0 for none: Writers' watch
	spare        []entry      // the goroutine's: the slice the last batch was in

	batches, packets atomic.Uint64
}

// wakeAt is how many queued packets wake the writer even before a frame
// ends (or a full queue, if smaller): what one GSO send carries.
const wakeAt = 64

// rideWhile is how many audio packets in a row may have come since a
// video frame ended for the next one still to ride: past it, video has
// stopped or slowed (a paused simulcast leg, an audio-only stream) and
// audio goes at once.
const rideWhile = 2

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
	go s.loop()
	return s
}

// NewSessionIn is NewSession with the writes done by w's workers
// (writers.go) rather than a goroutine of the session's own.
func NewSessionIn(w *Writers, queueLen int, b Batch) *Session {
	if queueLen <= 0 {
		queueLen = 2 * DefaultQueueLen
	}
	return &Session{max: queueLen, batch: b, pool: w, worker: w.assign()}
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
	ends := p.ends
	if s.ride && p.audio {
		if !s.riding && s.sinceFrame < rideWhile {
			ends, s.riding = false, true
			s.rodeAt.Store(p.Received)
		}
		s.sinceFrame++
	} else if p.ends {
		s.sinceFrame = 0
	}
	wake := !s.woken && (ends || len(s.q) >= min(wakeAt, s.max))
	if wake {
		s.woken = true
	}
	s.mu.Unlock()
	switch {
	case !wake:
	case s.pool != nil:
		s.worker.wake(s)
	default:
		select {
		case s.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// Ride lets an audio packet wait in the queue for the end of the next
// video frame, or for the next audio packet, whichever comes first, so
// that both go out in one send: a viewer of audio (50 packets a second)
// and video (30 frames) is woken, and sends, about half as often. The
// wait is at most one audio packet's interval (20 ms of Opus), less than
// the video frame's own assembly, which a receiver's lip sync delays the
// audio by anyway; only while video frames are coming (rideWhile), and
// never past rideMax (the pool watches: a session in a Writers pool
// only). For a viewer's session, not a relay's link, where each hop would
// add it. Call it before the first packet.
func (s *Session) Ride() {
	if s.pool == nil {
		return
	}
	s.mu.Lock()
	s.ride = true
	s.mu.Unlock()
	s.pool.ride(s, true)
}

// unride wakes the writer for a packet that has ridden long enough.
func (s *Session) unride() {
	s.mu.Lock()
	wake := s.riding && !s.woken
	if wake {
		s.woken = true
	}
	s.mu.Unlock()
	if wake {
		s.worker.wake(s)
	}
}

// pending is how many packets wait.
func (s *Session) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q)
}

// runQueued is the session's turn on its Writers worker: it drains the
// session unless it has closed.
func (s *Session) runQueued(out Sender) {
	s.run.Lock()
	defer s.run.Unlock()
	if s.quit.Load() {
		return
	}
	for s.drain(out) {
	}
}

func (s *Session) loop() {
	defer s.wg.Done()
	// One channel, not a select with a quit channel: a select per
	// wake-up costs twice a receive.
	for range s.wake {
		if s.quit.Load() {
			return
		}
		for s.drain(nil) {
		}
	}
}

// drain writes what is queued as one batch, sent through out if the
// Batch can (a Writers worker's turn); false when nothing was queued.
func (s *Session) drain(out Sender) bool {
	s.mu.Lock()
	batch := s.q
	s.q = s.spare[:0]
	s.woken, s.riding = false, false
	s.rodeAt.Store(0)
	s.mu.Unlock()
	if len(batch) == 0 {
		s.spare = batch
		return false
	}
	if to, ok := s.batch.(SendsAt); ok && out != nil {
		to.BeginInto(out)
	} else if s.batch != nil {
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
		if s.pool != nil {
			s.pool.ride(s, false)
			// Under run: a worker's drain under way ends first, and
			// none starts after.
			s.run.Lock()
			s.quit.Store(true)
			s.run.Unlock()
			return
		}
		s.quit.Store(true)
		select {
		case s.wake <- struct{}{}:
		default: // a wake-up is pending: the goroutine sees quit after it
		}
		s.wg.Wait()
	})
}
