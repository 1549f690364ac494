package node

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relaymesh/relaymesh/topology/control"
	"github.com/relaymesh/relaymesh/topology/membership"
)

// joinCluster starts gossip with this node's metadata.
func (n *Node) joinCluster(keys [][]byte) error {
	httpAddr := advertisedHTTP(n.cfg.HTTP, n.httpLn.Addr())
	host, _, _ := net.SplitHostPort(httpAddr)
	// Gossip is advertised on the same address as HTTP, where memberlist
	// would otherwise pick one of its own (an IPv6 ULA, say).
	advertise := ""
	if gh, gp, err := net.SplitHostPort(n.cfg.Gossip); err == nil && gp != "0" {
		if ip := net.ParseIP(gh); gh == "" || (ip != nil && ip.IsUnspecified()) {
			advertise = net.JoinHostPort(host, gp)
		}
	}
	c, err := membership.Join(membership.Params{
		Meta: membership.Meta{ID: n.cfg.NodeID, Role: string(n.role), Zone: n.cfg.Zone, HTTP: httpAddr,
			Media: net.JoinHostPort(host, strconv.Itoa(n.engine.UDPPort())), Route: advertisedRoute(n.cfg.NATSCluster, host),
			MaxViewers: n.cfg.MaxViewers, URL: strings.TrimSuffix(n.cfg.PublicURL, "/")},
		Bind: n.cfg.Gossip, Advertise: advertise, Join: n.cfg.JoinList(), Keys: keys, Logger: n.log,
	})
	if err != nil {
		return err
	}
	n.cluster = c
	return nil
}

// reportLoad gossips the node's load (sessions over -max-sessions) when it
// changes by a twentieth or more, and its viewer count when it changes,
// checking every 2 s, until the node closes.
func (n *Node) reportLoad() {
	defer n.wg.Done()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last, lastViewers := 0.0, 0
	told := map[string]int{} // per-stream viewer counts the directory has
	for {
		select {
		case <-n.closing:
			return
		case <-tick.C:
		}
		load := float64(n.Sessions()) / float64(n.cfg.MaxSessions)
		viewers := n.whepEP.Sessions() - n.kids.Sessions()
		if d := load - last; d > 0.05 || d < -0.05 || viewers != lastViewers {
			last, lastViewers = load, viewers
			_ = n.cluster.Update(func(m *membership.Meta) { m.Load, m.Viewers = load, viewers })
		}
		n.tellViewers(told)
	}
}

// tellViewers puts this node's viewer count of each stream in the
// directory where it differs from told (what was last told), so that any
// node can show a stream's viewers across the cluster. Only changes are
// sent, at most once per load report.
func (n *Node) tellViewers(told map[string]int) {
	if n.dir == nil {
		return
	}
	now := n.viewersByStream()
	for s := range told {
		if _, ok := now[s]; !ok {
			now[s] = 0
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), directoryWait)
	defer cancel()
	for s, v := range now {
		if told[s] == v {
			continue
		}
		if err := n.dir.SetViewers(ctx, s, v); err != nil {
			return // the control plane is down: told again when it is back
		}
		if v == 0 {
			delete(told, s)
		} else {
			told[s] = v
		}
	}
}

// viewersByStream counts this node's WHEP viewers of each stream (child
// relays' links are not viewers).
func (n *Node) viewersByStream() map[string]int {
	out := n.whepEP.SessionsByStream()
	for s, v := range out {
		if v -= n.kids.SessionsOf(s); v > 0 {
			out[s] = v
		} else {
			delete(out, s)
		}
	}
	return out
}

// Topology is GET /api/topology: the nodes of the cluster and, for each
// stream, the edges of its tree.
type Topology struct {
	Nodes   []membership.Meta `json:"nodes"`
	Streams []StreamTree      `json:"streams"`
}

// StreamTree is one stream's tree.
type StreamTree struct {
	Name   string     `json:"name"`
	Origin string     `json:"origin"`
	Edges  []TreeEdge `json:"edges"`
	// Viewers are the stream's WHEP viewers on each node that has any.
	Viewers map[string]int `json:"viewers,omitempty"`
}

// TreeEdge is one link of a tree.
type TreeEdge struct {
	Parent string `json:"parent"`
	Child  string `json:"child"`
}

// Topology assembles the cluster's picture from membership and the
// directory.
func (n *Node) Topology(ctx context.Context) Topology {
	t := Topology{Nodes: []membership.Meta{}, Streams: []StreamTree{}}
	if n.cluster != nil {
		t.Nodes = n.cluster.Members()
	}
	if n.dir == nil {
		return t
	}
	entries, _ := n.dir.List(ctx)
	edges, _ := n.dir.Edges(ctx)
	byStream := map[string][]control.Edge{}
	for _, e := range edges {
		byStream[e.Stream] = append(byStream[e.Stream], e)
	}
	viewers := n.clusterViewers()
	for _, e := range entries {
		st := StreamTree{Name: e.Stream, Origin: e.Origin, Edges: []TreeEdge{}, Viewers: viewers[e.Stream]}
		for _, ed := range byStream[e.Stream] {
			st.Edges = append(st.Edges, TreeEdge{Parent: ed.Parent, Child: ed.Child})
		}
		t.Streams = append(t.Streams, st)
	}
	return t
}

func (n *Node) apiTopology(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(n.Topology(ctx))
}
