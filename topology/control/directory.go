package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrClaimed is returned when a stream name is held by another origin.
var ErrClaimed = errors.New("stream is published on another origin")

// ErrNotOpen is returned while the directory cannot answer: this node is
// not connected to the control plane, or has not heard the others yet.
var ErrNotOpen = errors.New("the stream directory is unreachable (no connection to the control plane)")

// Entry says which origin carries a stream.
type Entry struct {
	Stream string    `json:"stream"`
	Origin string    `json:"origin"` // node id
	HTTP   string    `json:"http"`   // the origin's WHIP/WHEP address
	Since  time.Time `json:"since"`
	// Priority is the live publisher's (?priority=N): a publisher of a
	// higher one, on any origin, takes the name over; a lower one waits
	// as a backup.
	Priority int `json:"priority,omitempty"`
}

// DirectoryParams configures a Directory.
type DirectoryParams struct {
	Conn   *nats.Conn
	Origin string // this node's id
	HTTP   string // this node's HTTP address as other nodes reach it
	// TTL is how long a node's facts outlive it: a node tells all of them
	// every TTL/3, and a node not heard from for the TTL is forgotten.
	// Zero means 10 s.
	TTL    time.Duration
	Logger *slog.Logger
	// Departed, if set, says when gossip saw an origin leave or die: its
	// claims written before then are taken over at once instead of after
	// the TTL, so a publisher moving to another origin when its origin
	// dies is not refused for up to 10 s. A claim written after (the
	// origin restarted, and this node's gossip has not seen it back yet)
	// is the origin's new life's, and is left alone.
	Departed func(origin string) (time.Time, bool)
	// Peers, if set, names the servers this node's embedded NATS server
	// routes to (Plane.Peers): when one joins, the nodes on each side
	// have not heard the other side's facts, and tell theirs again.
	Peers func() string
}

// Directory is the cluster-wide map from stream name to origin, and the
// trees' edges and the origins' publishers: the facts of every node, each
// kept by the node it is about (facts.go). A name is claimed by the origin
// whose claim wins (claimWins): of two origins claiming one name at once,
// both see both claims and agree on the winner, and the other withdraws.
//
// Lifecycle: OpenDirectory → Claim/Release/Lookup/List → Close. Methods are
// safe from any goroutine.
type Directory struct {
	p    DirectoryParams
	nc   *nats.Conn
	life string
	subs []*nats.Subscription

	mu       sync.Mutex
	seq      uint64
	mine     map[string]json.RawMessage // this node's facts, by key
	view     map[string]*nodeFacts      // the other nodes', by node id
	synced   bool                       // the others have been heard since the first connection
	wantSync bool                       // a change of another node was missed
	// wantAnnounce: another node asked for everybody's facts.
	wantAnnounce bool

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// OpenDirectory joins the directory. Connected, it returns once it has
// heard the other nodes' facts (syncWait), so that its first claim knows
// theirs; not connected, at once, and it is Ready once it has.
func OpenDirectory(ctx context.Context, p DirectoryParams) (*Directory, error) {
	if p.TTL <= 0 {
		p.TTL = 10 * time.Second
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	d := &Directory{p: p, nc: p.Conn, life: newLife(), mine: map[string]json.RawMessage{}, view: map[string]*nodeFacts{}, stop: make(chan struct{})}
	if err := d.subscribe(); err != nil {
		return nil, fmt.Errorf("open the stream directory: %w", err)
	}
	d.wg.Add(1)
	go d.tend()
	for d.nc.IsConnected() && !d.Ready() {
		select {
		case <-ctx.Done():
			return d, nil
		case <-time.After(10 * time.Millisecond):
		}
	}
	return d, nil
}

// Ready reports whether the directory has heard the other nodes.
func (d *Directory) Ready() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.synced
}

// usable is ErrNotOpen unless the directory can answer now.
func (d *Directory) usable() error {
	if !d.nc.IsConnected() || !d.Ready() {
		return ErrNotOpen
	}
	return nil
}

func (d *Directory) entry(stream string, priority int) json.RawMessage {
	b, _ := json.Marshal(Entry{Stream: stream, Origin: d.p.Origin, HTTP: d.p.HTTP, Since: time.Now().UTC(), Priority: priority})
	return b
}

// isClaim tells a claim's key (a stream name, which holds no dot) from
// the other facts' (edge., pub.).
func isClaim(key string) bool { return !strings.Contains(key, ".") }

// claimWins orders two claims of one name: one gossip has not seen depart
// over one it has; then the higher priority; then the earlier; then the
// lower origin id. Every node orders them alike, so all agree.
func (d *Directory) claimWins(a, b Entry) bool {
	if ga, gb := d.Gone(a), d.Gone(b); ga != gb {
		return gb
	}
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if !a.Since.Equal(b.Since) {
		return a.Since.Before(b.Since)
	}
	return a.Origin < b.Origin
}

// winners is the winning claim of every name, under d.mu.
func (d *Directory) winners() map[string]Entry {
	out := map[string]Entry{}
	d.each(func(node, key string, v json.RawMessage) {
		if !isClaim(key) {
			return
		}
		var e Entry
		if json.Unmarshal(v, &e) != nil || e.Origin != node {
			return
		}
		if cur, ok := out[key]; !ok || d.claimWins(e, cur) {
			out[key] = e
		}
	})
	return out
}

// winner is stream's winning claim, under d.mu.
func (d *Directory) winner(stream string) (Entry, bool) {
	var best Entry
	found := false
	d.each(func(node, key string, v json.RawMessage) {
		if key != stream {
			return
		}
		var e Entry
		if json.Unmarshal(v, &e) != nil || e.Origin != node {
			return
		}
		if !found || d.claimWins(e, best) {
			best, found = e, true
		}
	})
	return best, found
}

// reconcile withdraws this node's claims that another's beats (a higher
// priority arrived elsewhere, or a race this node lost), under d.mu, so
// that Owns turns false and the name is free here once that one goes.
func (d *Directory) reconcile() {
	for key := range d.mine {
		if !isClaim(key) {
			continue
		}
		if w, ok := d.winner(key); ok && w.Origin != d.p.Origin {
			d.p.Logger.Info("stream directory: another origin's claim wins; withdrawing this one's", "stream", key, "origin", w.Origin, "priority", w.Priority)
			_ = d.setLocked(key, nil)
		}
	}
}

// Claim makes this node the origin of stream. A claim this node already
// holds succeeds again; one held by another origin gives an error that
// wraps ErrClaimed and names that origin.
func (d *Directory) Claim(ctx context.Context, stream string) error {
	live, err := d.ClaimAt(ctx, stream, 0)
	if err == nil && !live {
		e, _, _ := d.Lookup(ctx, stream)
		return fmt.Errorf("%w: %s", ErrClaimed, e.Origin)
	}
	return err
}

// claimSettle is how long a new claim waits for a rival one in flight
// from another origin (a message between NATS servers takes well under a
// millisecond on a LAN) before it is taken as won.
const claimSettle = 25 * time.Millisecond

// ClaimAt makes this node the origin of stream for a publisher of
// priority, and reports whether it is: it is when the name is free, held
// here, held by an origin gossip says has departed, or held for a lower
// priority (the root of the stream's tree then moves here); it is not
// (live false, no error) when another origin holds it for a higher
// priority, whose backup this publisher then is. The same priority on
// another origin is an error that wraps ErrClaimed and names it.
func (d *Directory) ClaimAt(ctx context.Context, stream string, priority int) (bool, error) {
	if err := d.usable(); err != nil {
		return false, err
	}
	d.mu.Lock()
	if live, err, decided := d.against(stream, priority); decided {
		d.mu.Unlock()
		return live, err
	}
	if mine, ok := d.mine[stream]; ok {
		var e Entry
		if json.Unmarshal(mine, &e) == nil && e.Priority == priority {
			d.mu.Unlock()
			return true, nil // held here already
		}
	}
	if w, ok := d.winner(stream); ok && w.Origin != d.p.Origin {
		d.p.Logger.Info("stream directory: taking the name over", "stream", stream, "from", w.Origin, "departed", d.Gone(w), "priority", priority, "was", w.Priority)
	}
	err := d.setLocked(stream, d.entry(stream, priority))
	d.mu.Unlock()
	if err == nil {
		err = d.nc.FlushWithContext(ctx)
	}
	if err != nil {
		_ = d.set(stream, nil)
		return false, fmt.Errorf("claim stream %q: %w", stream, err)
	}
	select {
	case <-ctx.Done():
		_ = d.set(stream, nil)
		return false, fmt.Errorf("claim stream %q: %w", stream, ctx.Err())
	case <-time.After(claimSettle):
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// Whoever wins now wins everywhere: every node orders the same claims
	// alike. A rival that came in the meantime and won has already made
	// reconcile withdraw this claim.
	w, ok := d.winner(stream)
	if ok && w.Origin == d.p.Origin {
		return true, nil
	}
	if _, held := d.mine[stream]; held {
		_ = d.setLocked(stream, nil)
	}
	if ok && w.Priority > priority {
		return false, nil
	}
	return false, fmt.Errorf("%w: %s", ErrClaimed, w.Origin)
}

// against decides a claim at priority when another origin's claim stands
// in its way, under d.mu: a backup (live false) under a higher priority,
// ErrClaimed at the same one. decided is false when nothing stands in the
// way (free, held here, a departed origin's, a lower priority's).
func (d *Directory) against(stream string, priority int) (live bool, err error, decided bool) {
	w, ok := d.winner(stream)
	if !ok || w.Origin == d.p.Origin || d.Gone(w) || w.Priority < priority {
		return false, nil, false
	}
	if w.Priority > priority {
		return false, nil, true
	}
	return false, fmt.Errorf("%w: %s", ErrClaimed, w.Origin), true
}

// Gone says whether e's origin has departed since it wrote e (gossip's
// word, through DirectoryParams.Departed).
func (d *Directory) Gone(e Entry) bool {
	if d.p.Departed == nil {
		return false
	}
	at, ok := d.p.Departed(e.Origin)
	return ok && e.Since.Before(at)
}

// Owns reports whether this node holds stream's claim.
func (d *Directory) Owns(stream string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.mine[stream]
	return ok
}

// Release gives up this node's claim on stream, if it has one.
func (d *Directory) Release(ctx context.Context, stream string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.mine[stream]; !ok {
		return nil
	}
	if err := d.setLocked(stream, nil); err != nil {
		return fmt.Errorf("release stream %q: %w", stream, err)
	}
	return nil
}

// Lookup returns the origin of stream.
func (d *Directory) Lookup(ctx context.Context, stream string) (Entry, bool, error) {
	if err := d.usable(); err != nil {
		return Entry{}, false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.winner(stream)
	return e, ok, nil
}

// List returns every entry, sorted by stream name.
func (d *Directory) List(ctx context.Context) ([]Entry, error) {
	if err := d.usable(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	w := d.winners()
	d.mu.Unlock()
	out := make([]Entry, 0, len(w))
	for _, e := range w {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream < out[j].Stream })
	return out, nil
}

// Edge is one link of a stream's tree: child pulls stream from parent.
type Edge struct {
	Stream string `json:"stream"`
	Parent string `json:"parent"`
	Child  string `json:"child"`
}

// edgePrefix keeps tree edges apart from stream names (which cannot hold
// a dot) in the one bucket.
const edgePrefix = "edge."

func edgeKey(stream, child string) string { return edgePrefix + stream + "." + child }

// SetEdge records that this node (child) pulls stream from parent. It is
// refreshed with the claims and expires with them when the node dies.
func (d *Directory) SetEdge(ctx context.Context, stream, parent string) error {
	b, _ := json.Marshal(Edge{Stream: stream, Parent: parent, Child: d.p.Origin})
	return d.putKept(ctx, edgeKey(stream, d.p.Origin), b)
}

// ClearEdge removes this node's edge for stream.
func (d *Directory) ClearEdge(ctx context.Context, stream string) error {
	return d.deleteKept(ctx, edgeKey(stream, d.p.Origin))
}

// putKept writes a fact this node keeps (an edge, a publisher).
func (d *Directory) putKept(ctx context.Context, key string, value []byte) error {
	return d.set(key, value)
}

// deleteKept removes a fact putKept wrote.
func (d *Directory) deleteKept(ctx context.Context, key string) error {
	return d.set(key, nil)
}

// kept calls fn with every fact under prefix, of every node.
func (d *Directory) kept(prefix string, fn func(key string, v json.RawMessage)) error {
	if err := d.usable(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.each(func(_, key string, v json.RawMessage) {
		if strings.HasPrefix(key, prefix) {
			fn(key, v)
		}
	})
	return nil
}

// Edges returns every tree edge in the cluster.
func (d *Directory) Edges(ctx context.Context) ([]Edge, error) {
	var out []Edge
	err := d.kept(edgePrefix, func(key string, v json.RawMessage) {
		var e Edge
		if json.Unmarshal(v, &e) == nil && edgeKey(e.Stream, e.Child) == key {
			out = append(out, e)
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Stream+out[i].Child < out[j].Stream+out[j].Child })
	return out, err
}

// Close stops tending the view. Facts are left to expire at the others,
// not deleted: a node that closes on its way to a restart keeps its names
// for the TTL, or until its new life speaks.
func (d *Directory) Close() {
	d.closeOnce.Do(func() {
		close(d.stop)
		d.wg.Wait()
		d.unsubscribe()
	})
}
