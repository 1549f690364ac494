package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"slices"
	"sync"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest/upstream"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// relay pulls streams on demand for a relay node: the first viewer of a
// stream makes it choose a parent in the stream's tree and link to it; the
// link is re-made while viewers remain if the parent dies, drains or drops;
// with no subscribers for idleTimeout it leaves. Pinned streams are carried
// whether or not anyone watches.
type relay struct {
	n      *Node
	puller *upstream.Puller
	idle   time.Duration
	pinned []string

	mu      sync.Mutex
	pulling map[string]*pull
	closed  bool
	wg      sync.WaitGroup // one watcher per pulled stream, one pinner
	stop    chan struct{}
	ctx     context.Context // cancelled by close: link attempts end
	cancel  context.CancelFunc
}

// pull is one stream's upstream state; ready is closed once the first link
// attempt is over (err says how it went).
type pull struct {
	ready  chan struct{}
	err    error
	link   *upstream.Link
	parent string // node id of the parent, or the host of a static upstream
	// seen is true once gossip has shown the parent: only then does its
	// absence mean it died (a relay without -join never sees its origin,
	// and relies on the link's own liveness).
	seen bool
}

func newRelay(n *Node, idle time.Duration) (*relay, error) {
	p, err := upstream.New(upstream.Params{Registry: n.reg, Engine: n.engine, Log: n.log, NodeID: n.cfg.NodeID})
	if err != nil {
		return nil, err
	}
	r := &relay{n: n, puller: p, idle: idle, pinned: n.cfg.PinList(), pulling: map[string]*pull{}, stop: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if len(r.pinned) > 0 {
		r.wg.Add(1)
		go r.pin()
	}
	return r, nil
}

// ensure makes the stream available on this node, pulling it if needed.
// Concurrent viewers of one stream share one pull.
func (r *relay) ensure(ctx context.Context, stream string) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return &webrtchttp.Error{Status: http.StatusServiceUnavailable, Message: "this relay is shutting down", RetryAfter: 5 * time.Second}
	}
	p := r.pulling[stream]
	if p == nil {
		p = &pull{ready: make(chan struct{})}
		r.pulling[stream] = p
		r.wg.Add(1)
		go r.watch(stream, p)
	}
	r.mu.Unlock()
	select {
	case <-p.ready:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pin keeps the pinned streams pulled: it asks for each every second, which
// costs nothing while they are carried and brings them back after their
// publisher returns.
func (r *relay) pin() {
	defer r.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for _, s := range r.pinned {
			ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
			_ = r.ensure(ctx, s) // not published yet, or no parent free: next tick
			cancel()
		}
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
	}
}

// wanted reports whether stream should stay carried.
func (r *relay) wanted(stream string) bool {
	return subscribers(r.n.reg, stream) > 0 || slices.Contains(r.pinned, stream)
}

// link chooses a parent for stream (the static -upstream, or a node of the
// stream's tree; gone is the parent being left, if any) and links to it.
func (r *relay) link(ctx context.Context, stream, gone string) (*upstream.Link, string, error) {
	if u := r.n.cfg.UpstreamURL(stream); u != "" {
		parent := r.nodeAt(u)
		l, err := r.linkTo(ctx, stream, u, parent)
		return l, parent, err
	}
	parent, u, err := r.chooseParent(ctx, stream, gone)
	if err != nil {
		return nil, "", err
	}
	l, err := r.linkTo(ctx, stream, u, parent)
	return l, parent, err
}

// linkTo pulls stream from url (the node parent) and records the edge.
func (r *relay) linkTo(ctx context.Context, stream, url, parent string) (*upstream.Link, error) {
	l, err := r.puller.Pull(ctx, url, stream)
	if errors.Is(err, upstream.ErrBusy) {
		return nil, nil // carried already (a race with another link attempt)
	}
	var se *whipclient.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return nil, webrtchttp.Errorf(http.StatusNotFound, "stream %q is not available from %s", stream, parent)
	}
	if err != nil {
		return nil, &webrtchttp.Error{Status: http.StatusBadGateway, Message: fmt.Sprintf("could not pull stream %q from %s: %v", stream, parent, err)}
	}
	r.n.log.Info("relaying", "stream", stream, "parent", parent, "url", url)
	if err := r.n.dir.SetEdge(ctx, stream, parent); err != nil {
		r.n.log.Warn("stream directory: edge not recorded", "stream", stream, "err", err)
	}
	return l, nil
}

// nodeAt names the parent at a static upstream URL: the cluster member
// serving HTTP there, or the URL's host for a server outside the cluster.
func (r *relay) nodeAt(u string) string {
	pu, err := neturl.Parse(u)
	if err != nil {
		return u
	}
	for _, m := range r.n.cluster.Members() {
		if m.HTTP == pu.Host {
			return m.ID
		}
	}
	return pu.Host
}

// clearEdge forgets this node's edge for stream (it left the tree).
func (r *relay) clearEdge(stream string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.n.dir.ClearEdge(ctx, stream)
}

// watch owns one stream's link: the first attempt, moves when the parent
// dies or drains, re-links when the link drops, and leaving when the stream
// has had no subscribers for r.idle.
func (r *relay) watch(stream string, p *pull) {
	defer r.wg.Done()
	defer func() {
		r.clearEdge(stream)
		r.mu.Lock()
		delete(r.pulling, stream)
		r.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	p.link, p.parent, p.err = r.link(ctx, stream, "")
	cancel()
	close(p.ready)
	if p.err != nil || p.link == nil {
		return
	}
	r.checkParent(stream, p)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	idleSince := time.Time{}
	var backoff time.Duration // the first re-link is at once
	changed := r.n.changes.C()
	static := r.n.cfg.Upstream != ""

	for {
		select {
		case <-r.stop:
			p.link.Close()
			return
		case <-changed:
			changed = r.n.changes.C()
			if !static {
				r.checkParent(stream, p)
			}
		case <-p.link.Done():
			if !r.wanted(stream) {
				return
			}
			// The parent is gone: link again while the local stream waits
			// (its reconnect grace keeps viewers attached).
			select {
			case <-r.stop:
				return
			case <-time.After(backoff):
			}
			ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
			l, parent, err := r.link(ctx, stream, p.parent)
			cancel()
			if err != nil || l == nil {
				r.n.log.Warn("re-link failed", "stream", stream, "err", err)
				backoff = min(max(2*backoff, 250*time.Millisecond), 2*time.Second)
				if _, ok := r.n.reg.Get(stream); !ok {
					return // the grace ran out: the viewers are gone too
				}
				continue
			}
			p.link, p.parent, p.seen, backoff = l, parent, false, 0
			r.checkParent(stream, p) // notes whether gossip knows the new parent
		case now := <-tick.C:
			if r.wanted(stream) {
				idleSince = time.Time{}
				continue
			}
			if idleSince.IsZero() {
				idleSince = now
			}
			if now.Sub(idleSince) >= r.idle {
				r.n.log.Info("leaving idle stream", "stream", stream, "idle", r.idle)
				p.link.Leave()
				return
			}
		}
	}
}

// checkParent reacts to a membership change: a parent that died is left at
// once (memberlist notices in about a second, before the link's own ICE
// timeout would); a parent that drains is left for another once one is
// found, and kept otherwise (an origin draining with no other source).
func (r *relay) checkParent(stream string, p *pull) {
	var alive, draining bool
	for _, m := range r.n.cluster.Members() {
		if m.ID == p.parent {
			alive, draining, p.seen = true, m.Draining, true
		}
	}
	switch {
	case !alive && p.seen:
		r.n.log.Info("parent died; moving", "stream", stream, "parent", p.parent)
		p.link.Abandon() // the link's Done case re-links
	case draining:
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		defer cancel()
		id, u, err := r.chooseParent(ctx, stream, p.parent)
		if err != nil || id == p.parent {
			r.n.log.Warn("parent is draining and no other can take this relay; staying", "stream", stream, "parent", p.parent, "err", err)
			return
		}
		r.n.log.Info("parent is draining; moving", "stream", stream, "from", p.parent, "to", id)
		p.link.Close()
		l, err := r.linkTo(ctx, stream, u, id)
		if err != nil || l == nil {
			return // the link's Done case tries again
		}
		p.link, p.parent, p.seen = l, id, true
	}
}

func subscribers(reg *fanout.Registry, stream string) int {
	s, ok := reg.Get(stream)
	if !ok {
		return 0
	}
	n := 0
	for _, t := range s.Tracks() {
		n += t.Subscribers()
	}
	return n
}

// close ends every link and waits for the watchers and read loops.
func (r *relay) close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
		r.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.puller.Close()
}
