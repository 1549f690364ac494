package control

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// The directory is what the nodes know, not a store of its own. Each node
// holds its own facts (the names it claims, the tree edges it pulls over,
// its publishers), tells them to the others on core NATS subjects, and
// keeps everybody's in memory. Losing any node, origin or not, loses only
// that node's facts, which died with it anyway; losing a NATS server loses
// nothing, since its clients reconnect to another server of the cluster and
// tell their facts again. Before, the directory was a JetStream bucket: two
// origins could not survive either one (a Raft quorum of two is both), and
// with three a new leader took JetStream's 4 to 9 s election.
const (
	subjFact = "relaymesh.dir.fact" // one fact set or deleted
	subjAll  = "relaymesh.dir.all"  // all of a node's facts
	subjSync = "relaymesh.dir.sync" // asks every node for its subjAll
)

// factMsg is one message of the directory's subjects.
type factMsg struct {
	Node string `json:"node"`
	Life string `json:"life"` // one per Directory: a restarted node is a new life
	Seq  uint64 `json:"seq"`  // of the life's changes, so a stale message is known
	Key  string `json:"key,omitempty"`
	// Value is the fact, or absent when it is deleted (subjFact).
	Value json.RawMessage            `json:"value,omitempty"`
	All   map[string]json.RawMessage `json:"all,omitempty"` // subjAll
}

// nodeFacts is what this node knows of another's facts.
type nodeFacts struct {
	life  string
	seq   uint64
	heard time.Time
	facts map[string]json.RawMessage
}

func newLife() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// subscribe listens to the other nodes' facts.
func (d *Directory) subscribe() error {
	for subj, h := range map[string]nats.MsgHandler{subjFact: d.onFact, subjAll: d.onFact, subjSync: d.onSync} {
		s, err := d.nc.Subscribe(subj, h)
		if err != nil {
			d.unsubscribe()
			return err
		}
		d.subs = append(d.subs, s)
	}
	return nil
}

func (d *Directory) unsubscribe() {
	for _, s := range d.subs {
		_ = s.Unsubscribe()
	}
	d.subs = nil
}

// onFact applies another node's change or whole set of facts.
func (d *Directory) onFact(m *nats.Msg) {
	var f factMsg
	if json.Unmarshal(m.Data, &f) != nil || f.Node == "" || f.Node == d.p.Origin {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.view[f.Node]
	switch {
	case n == nil || n.life != f.Life:
		// A node heard of for the first time, or a new life of it: a
		// restarted node's old facts are gone with the old life. A change
		// alone (not the whole set) of a new life asks for the rest.
		n = &nodeFacts{life: f.Life, facts: map[string]json.RawMessage{}}
		d.view[f.Node] = n
		d.wantAnnounce = true // it may not have heard this one either
		if m.Subject == subjFact {
			d.wantSync = true
		}
	case m.Subject == subjAll && f.Seq < n.seq, m.Subject == subjFact && f.Seq <= n.seq:
		return // older than what is known (a snapshot overtook it)
	case m.Subject == subjFact && f.Seq != n.seq+1:
		d.wantSync = true // a change was missed: ask for all again
	}
	n.seq, n.heard = f.Seq, time.Now()
	if m.Subject == subjAll {
		n.facts = f.All
		if n.facts == nil {
			n.facts = map[string]json.RawMessage{}
		}
	} else if f.Value == nil {
		delete(n.facts, f.Key)
	} else {
		n.facts[f.Key] = f.Value
	}
	d.reconcile()
}

// onSync answers another node's request for everybody's facts.
func (d *Directory) onSync(m *nats.Msg) {
	if string(m.Data) != d.p.Origin {
		d.mu.Lock()
		d.wantAnnounce = true // tend answers: many requests at once get one answer
		d.mu.Unlock()
	}
}

// set changes one of this node's facts (a nil value deletes it) and tells
// the others.
func (d *Directory) set(key string, value json.RawMessage) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.setLocked(key, value)
}

// setLocked is set with d.mu held. Publishing under it keeps the changes
// in their sequence's order on the wire.
func (d *Directory) setLocked(key string, value json.RawMessage) error {
	if value == nil {
		delete(d.mine, key)
	} else {
		d.mine[key] = value
	}
	d.seq++
	b, _ := json.Marshal(factMsg{Node: d.p.Origin, Life: d.life, Seq: d.seq, Key: key, Value: value})
	return d.nc.Publish(subjFact, b)
}

// announce tells every node all of this node's facts.
func (d *Directory) announce() {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, _ := json.Marshal(factMsg{Node: d.p.Origin, Life: d.life, Seq: d.seq, All: d.mine})
	_ = d.nc.Publish(subjAll, b)
}

// each calls fn with every fact known, this node's own included, of the
// nodes heard from within the TTL.
func (d *Directory) each(fn func(node, key string, value json.RawMessage)) {
	for k, v := range d.mine {
		fn(d.p.Origin, k, v)
	}
	for node, n := range d.view {
		for k, v := range n.facts {
			fn(node, k, v)
		}
	}
}

// syncWait is how long a node that has (re)joined the control plane
// listens for the others' facts before it answers from what it knows.
const syncWait = 200 * time.Millisecond

// tend keeps the view true: it announces this node's facts every TTL/3
// (which keeps them alive at the others), forgets the nodes not heard from
// within the TTL, and, whenever the connection to NATS is new (the first,
// or a reconnection to any server of the cluster: messages may have been
// lost meanwhile), tells its facts and asks for everybody's.
func (d *Directory) tend() {
	defer d.wg.Done()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastAnnounce time.Time
	reconnects := ^uint64(0)
	servers := ""
	var again time.Time
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
		if !d.nc.IsConnected() {
			continue
		}
		d.mu.Lock()
		want, answer := d.wantSync, d.wantAnnounce
		d.wantSync, d.wantAnnounce = false, false
		d.mu.Unlock()
		// A server that joined the cluster (its routes found by gossip)
		// brings nodes this one has not heard, and they have not heard it:
		// clients see it among the servers they may reconnect to, and an
		// embedded server among its routes.
		// Interest crosses a new route a little after the route is up, so
		// what is sent at once may reach nobody there: again a second on.
		s := strings.Join(d.nc.DiscoveredServers(), ",")
		if d.p.Peers != nil {
			s += "|" + d.p.Peers()
		}
		if s != servers {
			servers, want, again = s, true, time.Now().Add(time.Second)
		}
		if !again.IsZero() && time.Now().After(again) {
			want, again = true, time.Time{}
		}
		if answer {
			d.announce()
			lastAnnounce = time.Now()
		}
		if r := d.nc.Stats().Reconnects; r != reconnects || want {
			fresh := r != reconnects
			reconnects = r
			if fresh {
				// What was heard before the connection broke is kept, and
				// given a TTL from now to be told again.
				d.mu.Lock()
				for _, n := range d.view {
					n.heard = time.Now()
				}
				d.mu.Unlock()
			}
			d.announce()
			_ = d.nc.Publish(subjSync, []byte(d.p.Origin))
			lastAnnounce = time.Now()
			if !d.Ready() {
				select {
				case <-d.stop:
					return
				case <-time.After(syncWait):
				}
				d.mu.Lock()
				d.synced = true
				d.mu.Unlock()
			}
		}
		if time.Since(lastAnnounce) >= d.p.TTL/3 {
			d.announce()
			lastAnnounce = time.Now()
		}
		d.mu.Lock()
		expired := false
		for node, n := range d.view {
			if time.Since(n.heard) > d.p.TTL {
				delete(d.view, node)
				expired = true
			}
		}
		if expired {
			d.reconcile()
		}
		d.mu.Unlock()
	}
}
