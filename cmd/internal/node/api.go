package node

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/auth"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
)

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	n.whepEP.Register(mux)
	if n.whipEP != nil {
		n.whipEP.Register(mux)
	} else {
		mux.HandleFunc("POST /whip/{stream}", func(w http.ResponseWriter, r *http.Request) {
			webrtchttp.WriteError(w, webrtchttp.Errorf(http.StatusNotFound, "this node is a relay: publish to an origin"))
		})
	}
	mux.HandleFunc("GET /api/streams", n.apiStreams)
	mux.HandleFunc("GET /api/topology", n.apiTopology)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", n.readyz)
	mux.Handle("GET /metrics", metricsHandler(n.metrics))
	n.registerRecording(mux)
	mux.Handle("GET /", webUI())
	if n.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return n.guard(mux)
}

// handlers are the public HTTP handler and, with -admin-http, the admin
// one: admin actions, /metrics and pprof move to the admin address (where
// a Kubernetes NetworkPolicy can keep them inside the cluster), and the
// public address answers 404 for them; health and readiness are on both.
func (n *Node) handlers() (public, admin http.Handler) {
	all := n.routes()
	if n.cfg.AdminHTTP == "" {
		return all, nil
	}
	isAdmin := func(r *http.Request) bool {
		rt := classify(r)
		return !rt.open && (rt.action == auth.Admin || rt.action == auth.Metrics)
	}
	health := func(r *http.Request) bool { return r.URL.Path == "/healthz" || r.URL.Path == "/readyz" }
	public = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAdmin(r) {
			webrtchttp.WriteError(w, webrtchttp.Errorf(http.StatusNotFound, "%s %s is served on the admin address (-admin-http), not here", r.Method, r.URL.Path))
			return
		}
		all.ServeHTTP(w, r)
	})
	admin = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isAdmin(r) && !health(r) {
			webrtchttp.WriteError(w, webrtchttp.Errorf(http.StatusNotFound, "the admin address serves admin actions, /metrics and pprof; %s is on the main address", r.URL.Path))
			return
		}
		all.ServeHTTP(w, r)
	})
	return public, admin
}

func (n *Node) readyz(w http.ResponseWriter, r *http.Request) {
	if !n.ready.Load() {
		webrtchttp.WriteError(w, &webrtchttp.Error{Status: http.StatusServiceUnavailable, Message: "draining", RetryAfter: 5 * time.Second})
		return
	}
	// Without NATS a node can publish nothing and pull nothing new (its
	// current viewers go on): not ready, so load balancers send new
	// sessions elsewhere. A relay with a static -upstream has no NATS.
	if n.plane != nil && !n.planeUp() {
		webrtchttp.WriteError(w, &webrtchttp.Error{Status: http.StatusServiceUnavailable, Message: "the cluster's control plane (NATS) is unreachable", RetryAfter: 2 * time.Second})
		return
	}
	if n.dir != nil && !n.dir.Ready() {
		webrtchttp.WriteError(w, &webrtchttp.Error{Status: http.StatusServiceUnavailable, Message: "the stream directory has not heard the other nodes yet", RetryAfter: 2 * time.Second})
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// StreamInfo is one entry of GET /api/streams.
type StreamInfo struct {
	Name   string `json:"name"`
	Origin string `json:"origin"`
	Live   bool   `json:"live"`
	// Viewers is how many subscribe here (the most of any track: viewers,
	// child relays, the recorder); ClusterViewers the WHEP viewers of the
	// stream on every node, and ViewersByNode the same per node.
	Viewers        int            `json:"viewers"`
	ClusterViewers int            `json:"cluster_viewers"`
	ViewersByNode  map[string]int `json:"viewers_by_node,omitempty"`
	BitrateBPS     uint64         `json:"bitrate_bps"`
	Tracks         []TrackInfo    `json:"tracks"`
	// Publishers are the stream's publishers on every origin, the best of
	// each (?priority=N): the live one first, then its backups.
	Publishers []PublisherInfo `json:"publishers,omitempty"`
}

// PublisherInfo is one origin's best publisher of a stream.
type PublisherInfo struct {
	Origin   string `json:"origin"`
	Priority int    `json:"priority"`
	Live     bool   `json:"live"`
}

// TrackInfo describes one track of a stream.
type TrackInfo struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	Layer       string `json:"layer,omitempty"` // a simulcast layer's RID
	Codec       string `json:"codec"`
	Fmtp        string `json:"fmtp,omitempty"`
	BitrateBPS  uint64 `json:"bitrate_bps"`
	PacketsIn   uint64 `json:"packets_in"`
	PacketsOut  uint64 `json:"packets_out"`
	Dropped     uint64 `json:"dropped"`
	Subscribers int    `json:"subscribers"`
}

// Streams describes the node's streams.
func (n *Node) Streams() []StreamInfo {
	out := []StreamInfo{}
	entries, pubs := n.directoryEntries()
	for _, s := range n.reg.Streams() {
		origin := n.cfg.NodeID
		if e, ok := entries[s.Name()]; ok {
			origin = e.Origin // a relay carries streams of other origins
		}
		si := StreamInfo{Name: s.Name(), Origin: origin, Live: s.Live(), Tracks: []TrackInfo{}}
		for _, t := range s.Tracks() {
			o := t.Out()
			ti := TrackInfo{ID: t.ID(), Kind: t.Kind().String(), Layer: t.Layer(), Codec: strings.SplitN(t.Codec().MimeType, "/", 2)[1], Fmtp: t.Codec().Fmtp,
				BitrateBPS: t.Bitrate(), PacketsIn: t.Stats().PacketsIn.Load(), PacketsOut: o.Packets, Dropped: o.Dropped, Subscribers: t.Subscribers()}
			si.Tracks = append(si.Tracks, ti)
			si.BitrateBPS += ti.BitrateBPS
		}
		for _, g := range fanout.Groups(s.Tracks()) {
			subs := 0 // a simulcast source's subscribers are spread over its layers
			for _, t := range g.Layers {
				subs += t.Subscribers()
			}
			si.Viewers = max(si.Viewers, subs)
		}
		out = append(out, si)
	}
	for _, e := range entries {
		if !n.carries(e.Stream) && e.Origin != n.cfg.NodeID {
			out = append(out, StreamInfo{Name: e.Stream, Origin: e.Origin, Live: true, Tracks: []TrackInfo{}})
		}
	}
	for i := range out {
		e := entries[out[i].Name]
		for _, p := range pubs[out[i].Name] {
			if n.departed(p.Origin) {
				continue // its record outlives it by the directory's TTL
			}
			out[i].Publishers = append(out[i].Publishers, PublisherInfo{Origin: p.Origin, Priority: p.Priority, Live: p.Origin == e.Origin})
		}
		sort.SliceStable(out[i].Publishers, func(a, b int) bool { return out[i].Publishers[a].Live && !out[i].Publishers[b].Live })
	}
	byNode := n.clusterViewers()
	for i := range out {
		out[i].ViewersByNode = byNode[out[i].Name]
		for _, v := range out[i].ViewersByNode {
			out[i].ClusterViewers += v
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// clusterViewers is stream → node → WHEP viewers: this node's counted
// now, the others' as the directory last heard them (a departed node's
// left out at once rather than after the directory's TTL).
func (n *Node) clusterViewers() map[string]map[string]int {
	out := map[string]map[string]int{}
	if n.dir != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		all, _ := n.dir.Viewers(ctx)
		cancel()
		for s, nodes := range all {
			for id, v := range nodes {
				if id == n.cfg.NodeID || n.departed(id) {
					continue
				}
				if out[s] == nil {
					out[s] = map[string]int{}
				}
				out[s][id] = v
			}
		}
	}
	for s, v := range n.viewersByStream() {
		if out[s] == nil {
			out[s] = map[string]int{}
		}
		out[s][n.cfg.NodeID] = v
	}
	return out
}

func (n *Node) carries(stream string) bool {
	_, ok := n.reg.Get(stream)
	return ok
}

func (n *Node) apiStreams(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"node": n.cfg.NodeID, "role": n.role, "streams": n.Streams()})
}
