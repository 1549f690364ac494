package egress

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// Reporter sends an RTCP sender report (RFC 3550 §6.4.1) for every leg it
// holds, from one goroutine, once per interval. Receivers need SRs to map
// RTP timestamps to wall-clock time and so to keep audio and video in sync.
// Doing it here rather than in an interceptor keeps the per-packet path of
// every leg free of locks and maps: the legs only store two atomics a packet.
//
// Lifecycle: NewReporter → add/remove (by Tracks) → Close.
type Reporter struct {
	interval time.Duration

	mu     sync.Mutex
	tracks map[*Leg]struct{}

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewReporter starts the reporter. RFC 3550 §6.2 suggests 5 s for large
// sessions, but each leg here is a two-party session, and a receiver that
// joins waits for the first SR before it can sync: one second is what
// browsers send and expect.
func NewReporter(interval time.Duration) *Reporter {
	if interval <= 0 {
		interval = time.Second
	}
	r := &Reporter{interval: interval, tracks: map[*Leg]struct{}{}, stop: make(chan struct{})}
	r.wg.Add(1)
	go r.run()
	return r
}

func (r *Reporter) add(t *Leg) {
	r.mu.Lock()
	r.tracks[t] = struct{}{}
	r.mu.Unlock()
}

func (r *Reporter) remove(t *Leg) {
	r.mu.Lock()
	delete(r.tracks, t)
	r.mu.Unlock()
}

func (r *Reporter) run() {
	defer r.wg.Done()
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	var batch []*Leg
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		batch = batch[:0]
		r.mu.Lock()
		for t := range r.tracks {
			batch = append(batch, t)
		}
		r.mu.Unlock()
		now := time.Now()
		for _, t := range batch {
			if sr := t.senderReport(now); sr != nil {
				_ = t.writeRTCP([]rtcp.Packet{sr})
			}
		}
	}
}

// Close stops the reporter and waits for its goroutine.
func (r *Reporter) Close() {
	close(r.stop)
	r.wg.Wait()
}

// ntpTime converts a wall-clock time to the 64-bit NTP format (RFC 5905
// §6): seconds since 1900 in the high word, the fraction in the low word.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	s := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return s<<32 | frac
}
