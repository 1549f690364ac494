package membership

import "sync"

// changes broadcasts "the membership changed" to any number of waiters
// without blocking the sender (memberlist's event goroutine): each waiter
// holds the current channel, which is closed and replaced on every change.
type changes struct {
	mu sync.Mutex
	ch chan struct{}
}

func newChanges() *changes { return &changes{ch: make(chan struct{})} }

// C is closed at the next change.
func (c *changes) C() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

// fire wakes every waiter.
func (c *changes) fire() {
	c.mu.Lock()
	close(c.ch)
	c.ch = make(chan struct{})
	c.mu.Unlock()
}
