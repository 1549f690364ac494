// Package membership is the membership plane: who is alive, where, how
// loaded, in which zone. It wraps hashicorp/memberlist (SWIM gossip) and
// carries each node's Meta in memberlist's node metadata, so a snapshot of
// the cluster is available on every node without asking anyone.
package membership

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Meta is what a node tells the cluster about itself. It travels in every
// gossip exchange, so it stays small (memberlist caps it at 512 bytes).
type Meta struct {
	ID       string  `json:"id"`
	Role     string  `json:"role"`            // "origin" or "relay"
	Zone     string  `json:"zone"`            // placement hint
	HTTP     string  `json:"http"`            // host:port of WHIP/WHEP/API
	Media    string  `json:"media,omitempty"` // host:port of the WebRTC UDP port
	Load     float64 `json:"load"`            // 0 idle .. 1 saturated
	Viewers  int     `json:"viewers"`         // WHEP viewers (not relays) on this node
	Draining bool    `json:"draining,omitempty"`
	// Route is a clustered origin's NATS cluster address (-nats-cluster),
	// where the other origins' embedded servers route to it.
	Route string `json:"route,omitempty"`
	// MaxViewers is the node's viewer capacity (-max-viewers), 0 for none;
	// URL the base URL viewers reach it at (-public-url), "" for HTTP.
	MaxViewers int    `json:"max_viewers,omitempty"`
	URL        string `json:"url,omitempty"`
}

// Params configures a Cluster.
type Params struct {
	Meta Meta
	// Bind is the gossip address ("127.0.0.1:0" picks a free port).
	Bind string
	// Advertise, if set, is the address other nodes use to reach this one.
	Advertise string
	// Join lists seeds, host:port; a DNS name stands for all its addresses.
	Join []string
	// Keys, if any, encrypt and authenticate gossip (memberlist's keyring,
	// AES-GCM): the first encrypts, every one decrypts, so a key is rotated
	// without downtime by adding it second everywhere, then first, then
	// dropping the old one. A node without a key cannot join.
	Keys   [][]byte
	Logger *slog.Logger
}

// Cluster is this node's view of the cluster. Lifecycle: Join → Members,
// Update → Leave → Shutdown. Methods are safe from any goroutine.
type Cluster struct {
	ml      *memberlist.Memberlist
	changes *changes
	started atomic.Bool // ml is set: events may use the Cluster

	mu      sync.Mutex
	meta    []byte
	members map[string]member // by memberlist node name, kept from events
	seq     uint64            // orders the members' arrivals
	// departed holds the ids of nodes gossip has seen leave or die, until
	// they come back: their names and claims are free at once.
	departed map[string]time.Time

	stop chan struct{} // closed by Shutdown: the rejoin loop ends
	wg   sync.WaitGroup
}

// lanConfig tunes failure detection for a LAN or a Kubernetes cluster: a
// node killed without a goodbye is declared dead in about one second
// (probe every 200 ms, 100 ms to answer, suspicion for 2 probe rounds),
// where memberlist's defaults take 5 to 8 s. Children then re-parent fast.
func lanConfig(p Params, d *delegate) (*memberlist.Config, error) {
	c := memberlist.DefaultLANConfig()
	// Each life of a node gossips under a name of its own: a node
	// restarted within a second of being declared dead (a process manager
	// restarting it on new ports) was refused as a conflicting address
	// and stayed dead to the others until the next push-pull, 15 s. The
	// id in its Meta is what the cluster knows it by.
	c.Name = p.Meta.ID + "." + lifeSuffix()
	host, port, err := net.SplitHostPort(p.Bind)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", p.Bind, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	c.BindAddr = host
	if c.BindPort, err = strconv.Atoi(port); err != nil {
		return nil, fmt.Errorf("gossip port %q: %w", port, err)
	}
	if p.Advertise != "" {
		ah, ap, err := net.SplitHostPort(p.Advertise)
		if err != nil {
			return nil, fmt.Errorf("gossip advertise address %q: %w", p.Advertise, err)
		}
		c.AdvertiseAddr = ah
		if c.AdvertisePort, err = strconv.Atoi(ap); err != nil {
			return nil, fmt.Errorf("gossip advertise port %q: %w", ap, err)
		}
	}
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.GossipInterval = 50 * time.Millisecond
	c.SuspicionMult = 2
	c.PushPullInterval = 15 * time.Second
	// A node restarted under the same name on another address (a new pod)
	// may take its name back one second after it was declared dead.
	c.DeadNodeReclaimTime = time.Second
	if len(p.Keys) > 0 {
		ring, err := memberlist.NewKeyring(p.Keys[1:], p.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("-gossip-key: %w", err)
		}
		c.Keyring = ring
		c.GossipVerifyIncoming, c.GossipVerifyOutgoing = true, true
	}
	c.Delegate = d
	c.Events = d
	c.Logger = log.New(slogWriter{p.Logger}, "", 0)
	return c, nil
}

// Join starts gossip and joins the seeds (none: a cluster of one, which
// others may join later).
func Join(p Params) (*Cluster, error) {
	if p.Meta.ID == "" {
		return nil, errors.New("membership: the node needs an id")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	meta, err := json.Marshal(p.Meta)
	if err != nil {
		return nil, err
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("membership: node metadata is %d bytes, over memberlist's %d", len(meta), memberlist.MetaMaxSize)
	}
	c := &Cluster{changes: newChanges(), meta: meta, members: map[string]member{}, departed: map[string]time.Time{}, stop: make(chan struct{})}
	cfg, err := lanConfig(p, &delegate{c: c})
	if err != nil {
		return nil, err
	}
	if c.ml, err = memberlist.Create(cfg); err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", p.Bind, err)
	}
	c.started.Store(true)
	if len(p.Join) > 0 {
		if _, err := c.ml.Join(p.Join); err != nil {
			// Seeds come and go (a Kubernetes headless Service lists pods
			// only once they run): keep trying rather than exit.
			p.Logger.Warn("no gossip seed answered yet; retrying every 2 s", "join", p.Join, "err", err)
			c.wg.Add(1)
			go c.rejoin(p.Join, p.Logger)
		}
	}
	return c, nil
}

// rejoin retries the seeds until one answers or the cluster shuts down.
func (c *Cluster) rejoin(seeds []string, log *slog.Logger) {
	defer c.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if n, err := c.ml.Join(seeds); err == nil {
			log.Info("joined the cluster", "seeds_answered", n)
			return
		}
	}
}

// Addr is the gossip address other nodes can join.
func (c *Cluster) Addr() string {
	n := c.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Members returns the Meta of every live node, this one included, sorted by
// id: the snapshot that parent selection works on. It is kept from
// memberlist's events rather than read from memberlist.Members, whose nodes
// memberlist rewrites in place while gossiping.
func (c *Cluster) Members() []Meta {
	c.mu.Lock()
	byID := make(map[string]member, len(c.members))
	for _, m := range c.members {
		// Two lives of one node while the old one is not yet declared
		// dead: the one seen last is the node.
		if o, ok := byID[m.ID]; !ok || m.seq > o.seq {
			byID[m.ID] = m
		}
	}
	c.mu.Unlock()
	out := make([]Meta, 0, len(byID))
	for _, m := range byID {
		out = append(out, m.Meta)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// member is a live node's Meta and when it arrived.
type member struct {
	Meta
	seq uint64
}

// lifeSuffix tells one life of a node from the next.
func lifeSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// seen records a node's Meta; memberlist holds its node lock during the
// event, so reading the node here is safe.
func (c *Cluster) seen(name string, raw []byte) {
	var m Meta
	if err := json.Unmarshal(raw, &m); err != nil || m.ID == "" {
		return // a node of another kind, or one still starting
	}
	c.mu.Lock()
	old, ok := c.members[name]
	seq := old.seq
	if !ok {
		c.seq++
		seq = c.seq
	}
	c.members[name] = member{Meta: m, seq: seq}
	delete(c.departed, m.ID)
	c.mu.Unlock()
}

// maxDeparted bounds the departed ids remembered; the oldest go first.
const maxDeparted = 1024

func (c *Cluster) gone(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.members[name]
	delete(c.members, name)
	if !ok {
		return
	}
	for _, o := range c.members {
		if o.ID == m.ID {
			return // its next life is already here
		}
	}
	if len(c.departed) >= maxDeparted {
		oldest, at := "", time.Now()
		for id, t := range c.departed {
			if t.Before(at) {
				oldest, at = id, t
			}
		}
		delete(c.departed, oldest)
	}
	c.departed[m.ID] = time.Now()
}

// Departed reports whether gossip has seen node id leave or die (and not
// come back): a node it never saw is not departed, only unknown.
func (c *Cluster) Departed(id string) bool {
	_, ok := c.DepartedAt(id)
	return ok
}

// DepartedAt is when gossip saw node id leave or die (ok false: it has
// not, or it came back).
func (c *Cluster) DepartedAt(id string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.departed[id]
	return at, ok
}

// Changed is closed at the next change of membership: a node joins,
// leaves, dies or changes its Meta. Take a new channel after each.
func (c *Cluster) Changed() <-chan struct{} { return c.changes.C() }

// Update changes this node's Meta and gossips it.
func (c *Cluster) Update(f func(*Meta)) error {
	c.mu.Lock()
	var m Meta
	_ = json.Unmarshal(c.meta, &m)
	f(&m)
	b, err := json.Marshal(m)
	if err == nil && len(b) > memberlist.MetaMaxSize {
		err = fmt.Errorf("membership: node metadata is %d bytes, over memberlist's %d", len(b), memberlist.MetaMaxSize)
	}
	if err == nil {
		c.meta = b
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.ml.UpdateNode(time.Second)
}

// Leave tells the cluster this node is going (others drop it at once rather
// than after failure detection), waiting at most timeout.
func (c *Cluster) Leave(timeout time.Duration) error { return c.ml.Leave(timeout) }

// Shutdown stops gossip and waits for memberlist's goroutines. Without a
// Leave first, the others see this node fail.
func (c *Cluster) Shutdown() error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
	return c.ml.Shutdown()
}
