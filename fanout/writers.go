package fanout

import (
	"sync"
	"time"
)

// Writers runs many Sessions' writes on a few goroutines, one a core,
// instead of one goroutine each. A frame's end wakes every viewer's
// session at once: with a goroutine each, each wake-up was a channel send,
// a park and a switch (about a tenth of a busy origin's CPU at 1,000
// viewers); here a woken session joins its worker's ready list, and the
// worker drains the sessions on it back to back, in turns of up to
// writersTake. A session belongs to one worker (given in turn as sessions
// are made), so its batches go out in order, through the worker's Sender
// too. Lifecycle: NewWriters → NewSessionIn… → Session.Close each →
// Close, which waits for the workers.
type Writers struct {
	workers []*writer
	next    int // the worker the next session gets; under mu
	mu      sync.Mutex
	riders  map[*Session]struct{} // sessions that let audio ride (Session.Ride); under mu
	quit    bool
	stop    chan struct{}
	wg      sync.WaitGroup
	// rideMax is the constant rideMax but in a test of riding itself.
	rideMax time.Duration
}

// writer is one worker: its ready list and its Sender.
type writer struct {
	mu    sync.Mutex
	cond  *sync.Cond // it waits on it for sessions, or quit
	ready []*Session
	quit  bool
	out   Sender // nil: each session's Batch sends at End
}

// rideMax is how long an audio packet rides at most: a stream whose audio
// and video both pause (a publisher's stall, its end) would otherwise
// hold its last audio packet until the next one. rideTick is how often
// the riders are looked at.
const (
	rideMax  = 20 * time.Millisecond
	rideTick = 10 * time.Millisecond
)

// Sender sends, at the end of a worker's turn, what the sessions' Batches
// put into it (SendsAt): a turn's bursts in one go. Each worker has its
// own.
type Sender = interface{ Flush() }

// SendsAt is a Batch that can leave what it sends to a worker's Sender:
// BeginInto(out) is Begin, with what the batch sends, at End or when it
// is full, put into out for the worker's Flush.
type SendsAt interface {
	BeginInto(Sender)
}

// writersTake is how many ready sessions a worker drains in a turn, its
// Sender flushed after each: enough for one system call to carry many
// viewers' bursts, few enough that the first viewer's does not wait long.
const writersTake = 32

// NewWriters starts n workers (at least one). sender, if not nil, makes
// each worker's Sender.
func NewWriters(n int, sender func() Sender) *Writers {
	w := &Writers{riders: map[*Session]struct{}{}, stop: make(chan struct{}), rideMax: rideMax}
	for range max(n, 1) {
		wr := &writer{}
		wr.cond = sync.NewCond(&wr.mu)
		if sender != nil {
			wr.out = sender()
		}
		w.workers = append(w.workers, wr)
		w.wg.Add(1)
		go wr.work(&w.wg)
	}
	w.wg.Add(1)
	go w.watchRiders()
	return w
}

// assign gives a new session its worker.
func (w *Writers) assign() *writer {
	w.mu.Lock()
	defer w.mu.Unlock()
	wr := w.workers[w.next%len(w.workers)]
	w.next++
	return wr
}

// wake puts s on its worker's ready list.
func (wr *writer) wake(s *Session) {
	wr.mu.Lock()
	wr.ready = append(wr.ready, s)
	wr.mu.Unlock()
	wr.cond.Signal()
}

func (wr *writer) work(wg *sync.WaitGroup) {
	defer wg.Done()
	turn := make([]*Session, 0, writersTake)
	for {
		wr.mu.Lock()
		for len(wr.ready) == 0 && !wr.quit {
			wr.cond.Wait()
		}
		if wr.quit {
			wr.mu.Unlock()
			return
		}
		n := min(len(wr.ready), writersTake)
		turn = append(turn[:0], wr.ready[:n]...)
		rest := copy(wr.ready, wr.ready[n:])
		clear(wr.ready[rest:])
		wr.ready = wr.ready[:rest]
		wr.mu.Unlock()
		for _, s := range turn {
			s.runQueued(wr.out)
		}
		if wr.out != nil {
			wr.out.Flush()
		}
		clear(turn)
	}
}

// ride adds s to the riders watched, or removes it.
func (w *Writers) ride(s *Session, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if on {
		w.riders[s] = struct{}{}
	} else {
		delete(w.riders, s)
	}
}

// watchRiders wakes a session whose audio packet has ridden rideMax.
func (w *Writers) watchRiders() {
	defer w.wg.Done()
	tick := time.NewTicker(rideTick)
	defer tick.Stop()
	var late []*Session
	for {
		select {
		case <-w.stop:
			return
		case now := <-tick.C:
			w.mu.Lock()
			for s := range w.riders {
				if at := s.rodeAt.Load(); at != 0 && now.UnixNano()-at >= int64(w.rideMax) {
					late = append(late, s)
				}
			}
			w.mu.Unlock()
			for _, s := range late {
				s.unride()
			}
			clear(late)
			late = late[:0]
		}
	}
}

// Close stops the workers and waits for them; close the sessions first.
// Idempotent.
func (w *Writers) Close() {
	w.mu.Lock()
	if w.quit {
		w.mu.Unlock()
		return
	}
	w.quit = true
	w.mu.Unlock()
	close(w.stop)
	for _, wr := range w.workers {
		wr.mu.Lock()
		wr.quit, wr.ready = true, nil
		wr.mu.Unlock()
		wr.cond.Broadcast()
	}
	w.wg.Wait()
}
