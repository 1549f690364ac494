package node

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/relaymesh/relaymesh/ingest/upstream"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
)

// children counts, per stream, the relays this node feeds. Relays choose
// their parents from snapshots that can be a moment old, so two may pick
// the same last slot at once; the parent holds the line at -max-children
// and the late one chooses again.
type children struct {
	k  int
	mu sync.Mutex
	by map[string]map[string]int // stream → child node id → open sessions
}

func newChildren(k int) *children {
	return &children{k: k, by: map[string]map[string]int{}}
}

// admit takes child as a relay child for stream, or refuses it with 503
// when k others are already fed. A child that is already fed (re-linking)
// is always admitted, and only children that stay count: one that is
// draining or that gossip has declared dead is about to go (its session
// lingers until ICE times out), and its own children may be moving here to
// replace it. release must be called once the session ends.
func (c *children) admit(stream, child string, stays func(id string) bool) (release func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kids := c.by[stream]
	staying := 0
	for id := range kids {
		if stays(id) {
			staying++
		}
	}
	if kids[child] == 0 && staying >= c.k {
		return nil, &webrtchttp.Error{Status: http.StatusServiceUnavailable, RetryAfter: time.Second,
			Message: fmt.Sprintf("this node already feeds %d relays with stream %q (-max-children); choose another parent", staying, stream)}
	}
	if kids == nil {
		kids = map[string]int{}
		c.by[stream] = kids
	}
	kids[child]++
	var once sync.Once
	return func() { once.Do(func() { c.release(stream, child) }) }, nil
}

func (c *children) release(stream, child string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kids := c.by[stream]
	if kids[child]--; kids[child] <= 0 {
		delete(kids, child)
	}
	if len(kids) == 0 {
		delete(c.by, stream)
	}
}

// count is the number of relays fed with stream.
func (c *children) count(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.by[stream])
}

// sessions is the number of WHEP sessions held by relay children.
func (c *children) sessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, kids := range c.by {
		for _, s := range kids {
			n += s
		}
	}
	return n
}

// admitChild is the WHEP admission of a relay child (a request carrying
// upstream.NodeHeader): at most -max-children per stream, and never one
// that would close a loop. Viewers pass untouched.
func (n *Node) admitChild(ctx context.Context, r *http.Request, stream string) (func(), error) {
	child := r.Header.Get(upstream.NodeHeader)
	if child == "" {
		return func() {}, nil
	}
	if n.relay != nil {
		if err := n.relay.checkChild(ctx, stream, child); err != nil {
			return nil, err
		}
	}
	stays := map[string]bool{}
	for _, m := range n.cluster.Members() {
		stays[m.ID] = !m.Draining
	}
	return n.kids.admit(stream, child, func(id string) bool { return stays[id] })
}
