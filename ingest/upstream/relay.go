package upstream

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	neturl "net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/errs"
	"github.com/relaymesh/relaymesh/internal/whipclient"
	"github.com/relaymesh/relaymesh/topology"
	"github.com/relaymesh/relaymesh/topology/control"
	"github.com/relaymesh/relaymesh/topology/membership"
)

// The ways a relay cannot carry a stream; errors read as a sentence and
// are one of these under errors.Is. The HTTP edge maps them to codes.
var (
	// ErrNotPublished: no origin in the cluster publishes the stream.
	ErrNotPublished = errors.New("stream not published in the cluster")
	// ErrNoParent: every node that could feed this relay is full or
	// draining; retry shortly.
	ErrNoParent = errors.New("no parent available")
	// ErrParent: the chosen parent could not be pulled from.
	ErrParent = errors.New("parent failed")
	// ErrDirectory: the cluster's stream directory cannot be read now.
	ErrDirectory = errors.New("stream directory unreachable")
	// ErrClosing: the relay is shutting down.
	ErrClosing = errors.New("relay shutting down")
	// ErrLoop: the link asked for would close a loop in the tree.
	ErrLoop = errors.New("loop in the tree")
	// ErrChildrenFull: this node already feeds -max-children relays.
	ErrChildrenFull = errors.New("too many relay children")
)

// Directory is what the relay reads and writes of the cluster's stream
// directory (topology/control.Directory). Calls may block on the network
// up to ctx's deadline; safe from any goroutine.
type Directory interface {
	Lookup(ctx context.Context, stream string) (control.Entry, bool, error)
	Edges(ctx context.Context) ([]control.Edge, error)
	SetEdge(ctx context.Context, stream, parent string) error
	ClearEdge(ctx context.Context, stream string) error
}

// Members is the relay's view of gossip (topology/membership.Cluster):
// the live members, and a channel closed at the next change. Never blocks.
type Members interface {
	Members() []membership.Meta
	Changed() <-chan struct{}
	// Departed says whether gossip has seen the node leave or die.
	Departed(id string) bool
}

// RelayParams configures a Relay.
type RelayParams struct {
	Registry  *fanout.Registry
	Puller    *Puller
	Directory Directory
	Members   Members
	NodeID    string
	Zone      string
	// MaxChildren is the tree's fan-out (-max-children).
	MaxChildren int
	// Idle is how long a stream nobody watches stays carried.
	Idle time.Duration
	// RebalanceAfter is how long membership must be quiet before the relay
	// checks whether moving would bring a stream's tree back within its
	// depth bound (topology.Rebalance); zero: never.
	RebalanceAfter time.Duration
	// Pinned streams are carried whether or not anyone watches.
	Pinned []string
	// MembersOnly makes the relay pull only from nodes gossip lists as
	// members (a closed cluster): a directory entry naming a stranger as a
	// stream's origin is not followed.
	MembersOnly bool
	// StaticURL, if set, gives the WHEP URL to pull stream from instead of
	// a parent in the tree (-upstream), "" for none.
	StaticURL func(stream string) string
	Log       *slog.Logger
}

// Relay pulls streams on demand for a relay node: the first viewer of a
// stream makes it choose a parent in the stream's tree and link to it; the
// link is re-made while viewers remain if the parent dies, drains or drops;
// with no subscribers for Idle it leaves. Pinned streams are carried
// whether or not anyone watches.
//
// Lifecycle: NewRelay → Ensure (from any goroutine) → Close, which ends
// every link and waits for every goroutine the relay started.
type Relay struct {
	p RelayParams

	mu      sync.Mutex
	pulling map[string]*pull
	closed  bool
	wg      sync.WaitGroup // one watcher per pulled stream, one pinner
	stop    chan struct{}
	ctx     context.Context // cancelled by Close: link attempts end
	cancel  context.CancelFunc
}

// pull is one stream's upstream state; ready is closed once the first link
// attempt is over (err says how it went).
type pull struct {
	ready  chan struct{}
	err    error
	link   *Link
	parent string // node id of the parent, or the host of a static upstream
	// seen is true once gossip has shown the parent: only then does its
	// absence mean it died (a relay without -join never sees its origin,
	// and relies on the link's own liveness).
	seen bool
	// root is the stream's origin when the link was made: a relay linked
	// to it follows the root when it moves (a backup publisher's origin
	// taking over).
	root string
}

// NewRelay starts the relay (and its pinner, if streams are pinned).
func NewRelay(p RelayParams) *Relay {
	if p.StaticURL == nil {
		p.StaticURL = func(string) string { return "" }
	}
	r := &Relay{p: p, pulling: map[string]*pull{}, stop: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if len(r.p.Pinned) > 0 {
		r.wg.Add(1)
		go r.pin()
	}
	return r
}

// Ensure makes the stream available on this node, pulling it if needed.
// Concurrent viewers of one stream share one pull.
func (r *Relay) Ensure(ctx context.Context, stream string) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errs.Errorf(ErrClosing, "this relay is shutting down")
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
func (r *Relay) pin() {
	defer r.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for _, s := range r.p.Pinned {
			ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
			_ = r.Ensure(ctx, s) // not published yet, or no parent free: next tick
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
func (r *Relay) wanted(stream string) bool {
	return subscribers(r.p.Registry, stream) > 0 || slices.Contains(r.p.Pinned, stream)
}

// link chooses a parent for stream (the static -upstream, or a node of the
// stream's tree; gone is the parent being left, if any) and links to it.
// root is the stream's origin as the choice saw it ("" for -upstream).
func (r *Relay) link(ctx context.Context, stream, gone string) (l *Link, parent, root string, err error) {
	if u := r.p.StaticURL(stream); u != "" {
		parent := r.nodeAt(u)
		l, err := r.linkTo(ctx, stream, u, parent)
		return l, parent, "", err
	}
	parent, u, root, err := r.chooseParent(ctx, stream, gone)
	if err != nil {
		return nil, "", "", err
	}
	l, err = r.linkTo(ctx, stream, u, parent)
	return l, parent, root, err
}

// linkTo pulls stream from url (the node parent) and records the edge.
func (r *Relay) linkTo(ctx context.Context, stream, url, parent string) (*Link, error) {
	l, err := r.p.Puller.Pull(ctx, url, stream)
	if errors.Is(err, ErrBusy) {
		return nil, nil // carried already (a race with another link attempt)
	}
	var se *whipclient.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return nil, errs.Errorf(ErrNotPublished, "stream %q is not available from %s", stream, parent)
	}
	if err != nil {
		return nil, errs.Errorf(ErrParent, "could not pull stream %q from %s: %v", stream, parent, err)
	}
	r.p.Log.Info("relaying", "stream", stream, "parent", parent, "url", url)
	if err := r.p.Directory.SetEdge(ctx, stream, parent); err != nil {
		r.p.Log.Warn("stream directory: edge not recorded", "stream", stream, "err", err)
	}
	return l, nil
}

// nodeAt names the parent at a static upstream URL: the cluster member
// serving HTTP there, or the URL's host for a server outside the cluster.
func (r *Relay) nodeAt(u string) string {
	pu, err := neturl.Parse(u)
	if err != nil {
		return u
	}
	for _, m := range r.p.Members.Members() {
		if m.HTTP == pu.Host {
			return m.ID
		}
	}
	return pu.Host
}

// clearEdge forgets this node's edge for stream (it left the tree).
func (r *Relay) clearEdge(stream string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.p.Directory.ClearEdge(ctx, stream)
}

// watch owns one stream's link: the first attempt, moves when the parent
// dies or drains, re-links when the link drops, and leaving when the stream
// has had no subscribers for r.p.Idle.
func (r *Relay) watch(stream string, p *pull) {
	defer r.wg.Done()
	defer func() {
		r.clearEdge(stream)
		r.mu.Lock()
		delete(r.pulling, stream)
		r.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	p.link, p.parent, p.root, p.err = r.link(ctx, stream, "")
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
	changed := r.p.Members.Changed()
	static := r.p.StaticURL(stream) != ""
	settle := time.NewTimer(0)
	settle.Stop()
	defer settle.Stop()
	rootTick := time.NewTicker(rootPoll)
	defer rootTick.Stop()
	churn := churnOf(r.p.Members.Members())

	for {
		select {
		case <-r.stop:
			p.link.Close()
			return
		case <-changed:
			changed = r.p.Members.Changed()
			if !static {
				r.checkParent(stream, p)
				// Churn is members coming, going and draining; the load
				// and viewer counts they gossip change all the time and
				// would put rebalancing off for ever.
				if now := churnOf(r.p.Members.Members()); r.p.RebalanceAfter > 0 && now != churn {
					churn = now
					settle.Reset(r.p.RebalanceAfter)
				}
			}
		case <-settle.C:
			r.rebalance(stream, p)
		case <-rootTick.C:
			if !static && p.parent == p.root {
				r.followRoot(stream, p)
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
			l, parent, root, err := r.link(ctx, stream, p.parent)
			cancel()
			if err != nil || l == nil {
				r.p.Log.Warn("re-link failed", "stream", stream, "err", err)
				backoff = min(max(2*backoff, 250*time.Millisecond), 2*time.Second)
				if errors.Is(err, ErrNoParent) {
					// The origin has gone and its backup is taking over
					// (or every parent is full for a moment): that is
					// settled within moments, so look again soon.
					backoff = 100 * time.Millisecond
				}
				if _, ok := r.p.Registry.Get(stream); !ok {
					return // the grace ran out: the viewers are gone too
				}
				continue
			}
			p.link, p.parent, p.root, p.seen, backoff = l, parent, root, false, 0
			r.checkParent(stream, p) // notes whether gossip knows the new parent
		case now := <-tick.C:
			if r.wanted(stream) {
				idleSince = time.Time{}
				continue
			}
			if idleSince.IsZero() {
				idleSince = now
			}
			if now.Sub(idleSince) >= r.p.Idle {
				r.p.Log.Info("leaving idle stream", "stream", stream, "idle", r.p.Idle)
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
func (r *Relay) checkParent(stream string, p *pull) {
	var alive, draining bool
	for _, m := range r.p.Members.Members() {
		if m.ID == p.parent {
			alive, draining, p.seen = true, m.Draining, true
		}
	}
	switch {
	case !alive && p.seen:
		r.p.Log.Info("parent died; moving", "stream", stream, "parent", p.parent)
		p.link.Abandon() // the link's Done case re-links
	case draining:
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		defer cancel()
		id, u, _, err := r.chooseParent(ctx, stream, p.parent)
		if err != nil || id == p.parent {
			r.p.Log.Warn("parent is draining and no other can take this relay; staying", "stream", stream, "parent", p.parent, "err", err)
			return
		}
		r.p.Log.Info("parent is draining; moving", "stream", stream, "from", p.parent, "to", id)
		r.move(stream, p, u, id)
	}
}

// churnOf is what of membership counts as churn: who is there, and who
// drains.
func churnOf(members []membership.Meta) string {
	var b strings.Builder
	for _, m := range members { // sorted by id
		b.WriteString(m.ID)
		if m.Draining {
			b.WriteString("!")
		}
		b.WriteByte(',')
	}
	return b.String()
}

// rootPoll is how often a relay linked to a stream's origin checks that it
// still is the stream's root.
const rootPoll = 250 * time.Millisecond

// followRoot moves a relay linked to the stream's root when the root has
// moved to another origin (a backup publisher took over, or a publisher of
// a higher priority arrived): made before it breaks while the old root
// still serves; a dead one is left by checkParent.
func (r *Relay) followRoot(stream string, p *pull) {
	ctx, cancel := context.WithTimeout(r.ctx, directoryWait)
	e, ok, err := r.p.Directory.Lookup(ctx, stream)
	cancel()
	if err != nil || !ok || e.Origin == p.root || r.p.Members.Departed(e.Origin) {
		return
	}
	ctx, cancel = context.WithTimeout(r.ctx, directoryWait)
	id, u, root, err := r.chooseParent(ctx, stream, p.parent)
	cancel()
	if err != nil || id == p.parent || root != e.Origin {
		return
	}
	r.p.Log.Info("the stream's root moved; following it", "stream", stream, "from", p.root, "to", e.Origin, "parent", id)
	r.move(stream, p, u, id)
	if p.parent == id {
		p.root = e.Origin
	}
}

// rebalance moves this relay (with its subtree) if topology.Rebalance says
// so for the stream's tree as it stands once churn has stopped. Every
// relay of the tree computes the same moves and makes its own.
func (r *Relay) rebalance(stream string, p *pull) {
	ctx, cancel := context.WithTimeout(r.ctx, directoryWait)
	s, err := r.snapshot(ctx, stream)
	cancel()
	if err != nil {
		return
	}
	to, ok := topology.Rebalance(s.tree, s.members, r.p.MaxChildren)[s.self.ID]
	if !ok || to == p.parent {
		return
	}
	r.p.Log.Info("rebalancing: moving up the tree", "stream", stream, "from", p.parent, "to", to)
	r.move(stream, p, "http://"+s.http[to]+"/whep/"+neturl.PathEscape(stream), to)
}

// switchWait bounds how long a move waits for the new parent's first
// keyframe before it switches anyway: a parent with no keyframe for that
// long (a stream with no video, a publisher that ignores requests) costs
// the viewers a wait for one either way.
const switchWait = 3 * time.Second

// move links stream to the parent id at url before it leaves the current
// one (make-before-break): the new link is connected and its media
// received, the stream's tracks switch to it at its first keyframe, and
// only then is the old link closed. The viewers see no gap, only a change
// of source at a keyframe. If the new link fails, the old one stays.
func (r *Relay) move(stream string, p *pull, url, id string) {
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	l, err := r.p.Puller.PullStandby(ctx, url, stream)
	if err != nil {
		r.p.Log.Warn("move failed; staying", "stream", stream, "parent", p.parent, "to", id, "err", err)
		return
	}
	t := time.NewTimer(switchWait)
	defer t.Stop()
	select {
	case <-l.Live():
	case <-t.C:
		r.p.Log.Warn("no keyframe from the new parent; switching without one", "stream", stream, "to", id)
		l.TakeOver()
	case <-l.Done():
		r.p.Log.Warn("the new parent's link ended before it took over; staying", "stream", stream, "to", id)
		return
	case <-r.stop:
		l.Close()
		return
	}
	old := p.link
	p.link, p.parent, p.seen = l, id, true
	old.Close() // its publication no longer feeds the stream: this ends only the link
	if err := r.p.Directory.SetEdge(ctx, stream, id); err != nil {
		r.p.Log.Warn("stream directory: edge not recorded", "stream", stream, "err", err)
	}
	r.p.Log.Info("moved", "stream", stream, "parent", id)
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

// Close ends every link and waits for the watchers and read loops.
func (r *Relay) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
		r.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
	if r.p.Puller != nil {
		r.p.Puller.Close()
	}
}
