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
	}
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
	for _, e := range entries {
		st := StreamTree{Name: e.Stream, Origin: e.Origin, Edges: []TreeEdge{}}
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
