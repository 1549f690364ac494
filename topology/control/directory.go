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
	"github.com/nats-io/nats.go/jetstream"
)

// ErrClaimed is returned when a stream name is held by another origin.
var ErrClaimed = errors.New("stream is published on another origin")

// ErrNotOpen is returned while a patient directory is not open yet.
var ErrNotOpen = errors.New("the stream directory is not open yet (the control plane's JetStream has no quorum)")

// Bucket is the JetStream key-value bucket of the stream directory.
const Bucket = "relaymesh_streams"

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
	// TTL is how long a claim outlives its origin: the bucket's max age. An
	// owner refreshes its claims every TTL/3. Zero means 10 s.
	TTL    time.Duration
	Logger *slog.Logger
	// Departed, if set, says when gossip saw an origin leave or die: its
	// claims written before then are taken over at once instead of after
	// the TTL, so a publisher moving to another origin when its origin
	// dies is not refused for up to 10 s. A claim written after (the
	// origin restarted, and this node's gossip has not seen it back yet)
	// is the origin's new life's, and is left alone.
	Departed func(origin string) (time.Time, bool)
	// Replicas is how many servers of a clustered control plane hold the
	// directory (JetStream's replicas, at most 5); zero means 1.
	Replicas int
	// Patient, for a clustered control plane, opens the directory in the
	// background when JetStream cannot make it yet (no quorum while the
	// other origins start): until then every call fails with
	// ErrNotOpen, and Ready is false.
	Patient bool
}

// Directory is the cluster-wide map from stream name to origin, kept in a
// JetStream KV bucket: a claim is an atomic Create, so two origins racing
// for one name cannot both win. Claims are refreshed by their owner and
// expire with the bucket's max age when the owner is gone.
//
// Lifecycle: OpenDirectory → Claim/Release/Lookup/List → Close. Methods are
// safe from any goroutine and do network I/O: pass a context with a timeout.
type Directory struct {
	p  DirectoryParams
	js jetstream.JetStream

	mu    sync.Mutex
	kv    jetstream.KeyValue
	owned map[string]uint64 // stream → revision of our claim
	prio  map[string]int    // stream → the priority our claim holds
	edges map[string][]byte // the records putKept keeps (edges, publishers), refreshed like claims

	stop chan struct{}
	wg   sync.WaitGroup
}

// OpenDirectory opens (creating if need be) the directory bucket and starts
// refreshing this node's claims.
func OpenDirectory(ctx context.Context, p DirectoryParams) (*Directory, error) {
	if p.TTL <= 0 {
		p.TTL = 10 * time.Second
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	js, err := jetstream.New(p.Conn)
	if err != nil {
		return nil, err
	}
	d := &Directory{p: p, js: js, owned: map[string]uint64{}, prio: map[string]int{}, edges: map[string][]byte{}, stop: make(chan struct{})}
	if err := d.openBucket(ctx); err != nil {
		if !p.Patient {
			return nil, err
		}
		p.Logger.Info("stream directory: JetStream is not ready yet; opening it in the background", "err", err)
		d.wg.Add(1)
		go d.keepOpening()
	}
	d.wg.Add(1)
	go d.refresh()
	return d, nil
}

// keepOpening retries opening the bucket until it is open (a clustered
// control plane has formed its quorum) or the directory closes.
func (d *Directory) keepOpening() {
	defer d.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for d.bucket() == (unopened{}) {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := d.openBucket(ctx); err == nil {
			d.p.Logger.Info("stream directory: open")
		}
		cancel()
	}
}

// Ready reports whether the directory is open.
func (d *Directory) Ready() bool { return d.bucket() != (unopened{}) }

func (d *Directory) openBucket(ctx context.Context) error {
	// A clustered control plane's bucket has more copies than a node
	// that is not one of its servers asks for (a relay): bind to it as it
	// is. Updating it to one copy once left the directory on one origin,
	// and it died with it.
	if kv, err := d.js.KeyValue(ctx, Bucket); err == nil {
		if st, err := kv.Status(ctx); err == nil {
			if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo().Config.Replicas > max(d.p.Replicas, 1) {
				d.mu.Lock()
				d.kv = kv
				d.mu.Unlock()
				return nil
			}
		}
	}
	kv, err := d.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "relaymesh: stream name → origin", History: 1,
		TTL: d.p.TTL, Storage: jetstream.MemoryStorage, Replicas: max(d.p.Replicas, 1),
	})
	if err != nil {
		return fmt.Errorf("open the stream directory (the NATS server needs JetStream enabled): %w", err)
	}
	d.mu.Lock()
	d.kv = kv
	d.mu.Unlock()
	return nil
}

func (d *Directory) bucket() jetstream.KeyValue {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.kv == nil {
		return unopened{}
	}
	return d.kv
}

// unopened stands for the bucket until a patient directory opens it: the
// calls the directory makes fail with ErrNotOpen.
type unopened struct{ jetstream.KeyValue }

func (unopened) Get(context.Context, string) (jetstream.KeyValueEntry, error) { return nil, ErrNotOpen }
func (unopened) Put(context.Context, string, []byte) (uint64, error)          { return 0, ErrNotOpen }
func (unopened) Create(context.Context, string, []byte, ...jetstream.KVCreateOpt) (uint64, error) {
	return 0, ErrNotOpen
}
func (unopened) Update(context.Context, string, []byte, uint64) (uint64, error) {
	return 0, ErrNotOpen
}
func (unopened) Delete(context.Context, string, ...jetstream.KVDeleteOpt) error { return ErrNotOpen }
func (unopened) ListKeys(context.Context, ...jetstream.WatchOpt) (jetstream.KeyLister, error) {
	return nil, ErrNotOpen
}

func (d *Directory) entry(stream string, priority int) []byte {
	b, _ := json.Marshal(Entry{Stream: stream, Origin: d.p.Origin, HTTP: d.p.HTTP, Since: time.Now().UTC(), Priority: priority})
	return b
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

// ClaimAt makes this node the origin of stream for a publisher of
// priority, and reports whether it is: it is when the name is free, held
// here, held by an origin gossip says has departed, or held for a lower
// priority (the root of the stream's tree then moves here); it is not
// (live false, no error) when another origin holds it for a higher
// priority, whose backup this publisher then is. The same priority on
// another origin is an error that wraps ErrClaimed and names it.
func (d *Directory) ClaimAt(ctx context.Context, stream string, priority int) (bool, error) {
	kv := d.bucket()
	rev, err := kv.Create(ctx, stream, d.entry(stream, priority))
	if errors.Is(err, jetstream.ErrKeyExists) {
		ent, gerr := kv.Get(ctx, stream)
		if errors.Is(gerr, jetstream.ErrKeyNotFound) {
			return d.ClaimAt(ctx, stream, priority) // released meanwhile: try again
		}
		if gerr != nil {
			return false, gerr
		}
		var e Entry
		if jerr := json.Unmarshal(ent.Value(), &e); jerr != nil {
			return false, fmt.Errorf("directory entry %q: %w", stream, jerr)
		}
		departed := e.Origin != d.p.Origin && d.Gone(e)
		switch {
		case e.Origin == d.p.Origin || departed || e.Priority < priority:
		case e.Priority > priority:
			return false, nil
		default:
			return false, fmt.Errorf("%w: %s", ErrClaimed, e.Origin)
		}
		d.mu.Lock()
		_, mine := d.owned[stream]
		d.mu.Unlock()
		if mine && e.Origin == d.p.Origin && e.Priority == priority {
			return true, nil
		}
		// Our own claim from before a restart or at another priority, a
		// departed origin's, or a lower priority's: take it over by
		// compare-and-set on the revision read, so of two origins taking
		// over at once one wins and the other is told who.
		if e.Origin != d.p.Origin {
			d.p.Logger.Info("stream directory: taking the name over", "stream", stream, "from", e.Origin, "departed", departed, "priority", priority, "was", e.Priority)
		}
		rev, err = kv.Update(ctx, stream, d.entry(stream, priority), ent.Revision())
		if err != nil && e.Origin != d.p.Origin {
			if now, ok, _ := d.Lookup(ctx, stream); ok && now.Origin != d.p.Origin {
				if now.Priority > priority {
					return false, nil
				}
				return false, fmt.Errorf("%w: %s", ErrClaimed, now.Origin)
			}
		}
	}
	if err != nil {
		return false, fmt.Errorf("claim stream %q: %w", stream, err)
	}
	d.mu.Lock()
	d.owned[stream] = rev
	d.prio[stream] = priority
	d.mu.Unlock()
	return true, nil
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

// Owns reports whether this node holds stream's claim, as far as it knows
// (a higher priority elsewhere takes it over; the next refresh notices).
func (d *Directory) Owns(stream string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.owned[stream]
	return ok
}

// Release gives up this node's claim on stream, if it has one. It never
// deletes another origin's claim (the delete names our revision).
func (d *Directory) Release(ctx context.Context, stream string) error {
	d.mu.Lock()
	rev, ok := d.owned[stream]
	delete(d.owned, stream)
	delete(d.prio, stream)
	d.mu.Unlock()
	kv := d.bucket()
	if !ok {
		return nil
	}
	if err := kv.Delete(ctx, stream, jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("release stream %q: %w", stream, err)
	}
	return nil
}

// Lookup returns the origin of stream.
func (d *Directory) Lookup(ctx context.Context, stream string) (Entry, bool, error) {
	ent, err := d.bucket().Get(ctx, stream)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, err
	}
	var e Entry
	if err := json.Unmarshal(ent.Value(), &e); err != nil {
		return Entry{}, false, fmt.Errorf("directory entry %q: %w", stream, err)
	}
	return e, true, nil
}

// List returns every entry, sorted by stream name.
func (d *Directory) List(ctx context.Context) ([]Entry, error) {
	keys, err := d.keys(ctx)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, k := range keys {
		if strings.HasPrefix(k, edgePrefix) || strings.HasPrefix(k, pubPrefix) {
			continue
		}
		if e, ok, err := d.Lookup(ctx, k); err == nil && ok {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream < out[j].Stream })
	return out, nil
}

func (d *Directory) keys(ctx context.Context) ([]string, error) {
	kl, err := d.bucket().ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for k := range kl.Keys() {
		out = append(out, k)
	}
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

// putKept writes a record this node keeps (an edge, a publisher): the
// refresh puts it again every TTL/3 until deleteKept.
func (d *Directory) putKept(ctx context.Context, key string, value []byte) error {
	d.mu.Lock()
	d.edges[key] = value
	d.mu.Unlock()
	_, err := d.bucket().Put(ctx, key, value)
	return err
}

// deleteKept removes a record putKept wrote.
func (d *Directory) deleteKept(ctx context.Context, key string) error {
	d.mu.Lock()
	delete(d.edges, key)
	d.mu.Unlock()
	if err := d.bucket().Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	return nil
}

// Edges returns every tree edge in the cluster.
func (d *Directory) Edges(ctx context.Context) ([]Edge, error) {
	keys, err := d.keys(ctx)
	if err != nil {
		return nil, err
	}
	var out []Edge
	for _, k := range keys {
		if !strings.HasPrefix(k, edgePrefix) {
			continue
		}
		ent, err := d.bucket().Get(ctx, k)
		if err != nil {
			continue
		}
		var e Edge
		if json.Unmarshal(ent.Value(), &e) == nil {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream+out[i].Child < out[j].Stream+out[j].Child })
	return out, nil
}

// refresh renews this node's claims every TTL/3 so they do not expire. A
// claim that vanished (the NATS server restarted and lost the bucket) is
// made again; one that another origin took meanwhile is given up.
func (d *Directory) refresh() {
	defer d.wg.Done()
	tick := time.NewTicker(d.p.TTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
		d.mu.Lock()
		owned := make(map[string]uint64, len(d.owned))
		for s, r := range d.owned {
			owned[s] = r
		}
		d.mu.Unlock()
		d.mu.Lock()
		edges := make(map[string][]byte, len(d.edges))
		for k, v := range d.edges {
			edges[k] = v
		}
		d.mu.Unlock()
		for key, val := range edges {
			ctx, cancel := context.WithTimeout(context.Background(), d.p.TTL/3)
			if _, err := d.bucket().Put(ctx, key, val); err != nil {
				if oerr := d.openBucket(ctx); oerr == nil {
					_, _ = d.bucket().Put(ctx, key, val)
				}
			}
			cancel()
		}
		for stream, rev := range owned {
			ctx, cancel := context.WithTimeout(context.Background(), d.p.TTL/3)
			d.mu.Lock()
			prio := d.prio[stream]
			d.mu.Unlock()
			next, err := d.renew(ctx, stream, rev, prio)
			cancel()
			d.mu.Lock()
			if _, still := d.owned[stream]; still {
				if err != nil && errors.Is(err, ErrClaimed) {
					delete(d.owned, stream)
					delete(d.prio, stream)
				} else if err == nil {
					d.owned[stream] = next
				}
			}
			d.mu.Unlock()
			if err != nil {
				d.p.Logger.Warn("stream directory: claim not renewed", "stream", stream, "err", err)
			}
		}
	}
}

func (d *Directory) renew(ctx context.Context, stream string, rev uint64, priority int) (uint64, error) {
	next, err := d.bucket().Update(ctx, stream, d.entry(stream, priority), rev)
	if err == nil {
		return next, nil
	}
	// The claim or the whole bucket is gone: expired, or a NATS server that
	// restarted without its memory (it then answers "no response from
	// stream" rather than "not found"). Opening the bucket is idempotent.
	if oerr := d.openBucket(ctx); oerr != nil {
		return 0, oerr
	}
	// Gone (expired or lost): create it again, unless another origin has it.
	next, cerr := d.bucket().Create(ctx, stream, d.entry(stream, priority))
	if errors.Is(cerr, jetstream.ErrKeyExists) {
		if e, ok, _ := d.Lookup(ctx, stream); ok && e.Origin != d.p.Origin {
			return 0, fmt.Errorf("%w: %s", ErrClaimed, e.Origin)
		}
		ent, gerr := d.bucket().Get(ctx, stream)
		if gerr != nil {
			return 0, gerr
		}
		return ent.Revision(), nil
	}
	return next, cerr
}

// Close stops refreshing. Claims are left to expire, not deleted: a node
// that closes on its way to a restart keeps its names for the TTL.
func (d *Directory) Close() {
	close(d.stop)
	d.wg.Wait()
}
