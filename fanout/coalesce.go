package fanout

import (
	"sync"
	"time"
)

// DefaultKeyframeInterval is how often at most a track asks its source for a
// keyframe, however many subscribers ask.
const DefaultKeyframeInterval = 500 * time.Millisecond

// coalescer turns keyframe requests from any number of subscribers into at
// most one upstream request per interval. A request that arrives inside the
// interval is not lost: it is sent when the interval ends, unless a keyframe
// has passed through the track in the meantime, which answers it already.
type coalescer struct {
	interval time.Duration
	send     func() // asks the source; called without the lock held

	mu           sync.Mutex
	last         time.Time // when the last upstream request was sent
	pending      bool
	pendingSince time.Time
	lastKeyframe time.Time
	timer        *time.Timer
	closed       bool
	wg           sync.WaitGroup // the timer callback in flight
}

// request records one subscriber's wish for a keyframe. It never blocks on
// the upstream: send must not block either.
func (c *coalescer) request(now time.Time) {
	c.mu.Lock()
	if c.closed || c.pending {
		c.mu.Unlock()
		return
	}
	wait := c.last.Add(c.interval).Sub(now)
	if wait <= 0 {
		c.last = now
		c.mu.Unlock()
		c.send()
		return
	}
	c.pending, c.pendingSince = true, now
	c.wg.Add(1)
	c.timer = time.AfterFunc(wait, c.fire)
	c.mu.Unlock()
}

func (c *coalescer) fire() {
	defer c.wg.Done()
	now := time.Now()
	c.mu.Lock()
	answered := !c.lastKeyframe.Before(c.pendingSince)
	ok := c.pending && !c.closed && !answered
	c.pending = false
	if ok {
		c.last = now
	}
	c.mu.Unlock()
	if ok {
		c.send()
	}
}

// keyframeSeen is called by the read loop when a keyframe passes.
func (c *coalescer) keyframeSeen(now time.Time) {
	c.mu.Lock()
	c.lastKeyframe = now
	c.mu.Unlock()
}

// close cancels a pending request and waits for a callback in flight.
func (c *coalescer) close() {
	c.mu.Lock()
	c.closed = true
	if c.timer != nil && c.timer.Stop() {
		c.wg.Done() // the callback will never run
	}
	c.mu.Unlock()
	c.wg.Wait()
}
