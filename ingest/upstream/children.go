package upstream

import (
	"context"
	"net/http"
	"sync"

	"github.com/relaymesh/relaymesh/internal/errs"
)

// Children counts, per stream, the relays this node feeds, and admits new
// ones. Relays choose their parents from snapshots that can be a moment
// old, so two may pick the same last slot at once; the parent holds the
// line at -max-children and the late one chooses again. Safe for concurrent
// use.
type Children struct {
	k       int
	members Members
	// check, if set, refuses a child that would close a loop (a relay
	// parent asks its own Relay.CheckChild).
	check func(ctx context.Context, stream, child string) error

	mu sync.Mutex
	by map[string]map[string]int // stream → child node id → open sessions
}

// NewChildren admits at most k relay children per stream; check, if not
// nil, vets each child first.
func NewChildren(k int, members Members, check func(ctx context.Context, stream, child string) error) *Children {
	return &Children{k: k, members: members, check: check, by: map[string]map[string]int{}}
}

// Admit is the WHEP admission of a relay child (a request carrying
// NodeHeader): at most k per stream, and never one that would close a
// loop. Viewers pass untouched. release must be called once the session
// ends.
func (c *Children) Admit(ctx context.Context, r *http.Request, stream string) (release func(), err error) {
	child := r.Header.Get(NodeHeader)
	if child == "" {
		return func() {}, nil
	}
	if c.check != nil {
		if err := c.check(ctx, stream, child); err != nil {
			return nil, err
		}
	}
	stays := map[string]bool{}
	for _, m := range c.members.Members() {
		stays[m.ID] = !m.Draining
	}
	return c.admit(stream, child, func(id string) bool { return stays[id] })
}

// admit takes child as a relay child for stream, or refuses it when k
// others are already fed. A child that is already fed (re-linking) is
// always admitted, and only children that stay count: one that is draining
// or that gossip has declared dead is about to go (its session lingers
// until ICE times out), and its own children may be moving here to replace
// it.
func (c *Children) admit(stream, child string, stays func(id string) bool) (release func(), err error) {
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
		return nil, errs.Errorf(ErrChildrenFull, "this node already feeds %d relays with stream %q (-max-children); choose another parent", staying, stream)
	}
	if kids == nil {
		kids = map[string]int{}
		c.by[stream] = kids
	}
	kids[child]++
	var once sync.Once
	return func() { once.Do(func() { c.release(stream, child) }) }, nil
}

func (c *Children) release(stream, child string) {
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

// Count is the number of relays fed with stream.
func (c *Children) Count(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.by[stream])
}

// SessionsOf is the number of WHEP sessions relay children hold of stream.
func (c *Children) SessionsOf(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.by[stream] {
		n += s
	}
	return n
}

// Sessions is the number of WHEP sessions held by relay children.
func (c *Children) Sessions() int {
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
