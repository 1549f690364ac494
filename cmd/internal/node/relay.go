package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"sync"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest/upstream"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// relay pulls streams on demand for a relay node: the first viewer of a
// stream makes it link to the stream's origin; the link is re-made while
// viewers remain if it drops; with no subscribers for idleTimeout it leaves.
type relay struct {
	n      *Node
	puller *upstream.Puller
	idle   time.Duration

	mu      sync.Mutex
	pulling map[string]*pull
	closed  bool
	wg      sync.WaitGroup // one watcher per pulled stream
	stop    chan struct{}
}

// pull is one stream's upstream state; ready is closed once the first link
// attempt is over (err says how it went).
type pull struct {
	ready chan struct{}
	err   error
	link  *upstream.Link
}

func newRelay(n *Node, idle time.Duration) (*relay, error) {
	p, err := upstream.New(upstream.Params{Registry: n.reg, Engine: n.engine, Log: n.log})
	if err != nil {
		return nil, err
	}
	return &relay{n: n, puller: p, idle: idle, pulling: map[string]*pull{}, stop: make(chan struct{})}, nil
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

// link finds the stream's parent (the static -upstream, or the stream's
// origin in the directory) and links to it.
func (r *relay) link(ctx context.Context, stream string) (*upstream.Link, error) {
	if u := r.n.cfg.UpstreamURL(stream); u != "" {
		return r.linkTo(ctx, stream, u, r.nodeAt(u))
	}
	e, ok, err := r.n.dir.Lookup(ctx, stream)
	if err != nil {
		return nil, &webrtchttp.Error{Status: http.StatusServiceUnavailable, Message: "the cluster's stream directory is unreachable; retry shortly", RetryAfter: 2 * time.Second}
	}
	if !ok {
		return nil, webrtchttp.Errorf(http.StatusNotFound, "stream %q is not being published in this cluster", stream)
	}
	return r.linkTo(ctx, stream, "http://"+e.HTTP+"/whep/"+stream, e.Origin)
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
	r.n.log.Info("relaying", "stream", stream, "parent", url)
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
	if r.n.cluster != nil {
		for _, m := range r.n.cluster.Members() {
			if m.HTTP == pu.Host {
				return m.ID
			}
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

// watch owns one stream's link: the first attempt, re-links while the
// stream has subscribers, and leaving when it has had none for r.idle.
func (r *relay) watch(stream string, p *pull) {
	defer r.wg.Done()
	defer func() {
		r.clearEdge(stream)
		r.mu.Lock()
		delete(r.pulling, stream)
		r.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	p.link, p.err = r.link(ctx, stream)
	cancel()
	close(p.ready)
	if p.err != nil || p.link == nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	idleSince := time.Time{}
	var backoff time.Duration // the first re-link is at once

	for {
		select {
		case <-r.stop:
			p.link.Close()
			return
		case <-p.link.Done():
			if subscribers(r.n.reg, stream) == 0 {
				return
			}
			// The parent is gone: link again while the local stream waits
			// (its reconnect grace keeps viewers attached).
			select {
			case <-r.stop:
				return
			case <-time.After(backoff):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			l, err := r.link(ctx, stream)
			cancel()
			if err != nil || l == nil {
				backoff = min(max(2*backoff, 250*time.Millisecond), 2*time.Second)
				if _, ok := r.n.reg.Get(stream); !ok {
					return // the grace ran out: the viewers are gone too
				}
				continue
			}
			p.link, backoff = l, 0
		case now := <-tick.C:
			if subscribers(r.n.reg, stream) > 0 {
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
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.puller.Close()
}
