package node

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/relaymesh/relaymesh/ingest/upstream"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
	"github.com/relaymesh/relaymesh/topology"
)

// Viewers land on the right node by themselves: a WHEP POST to any node is
// answered 307 with the WHEP URL of the node that serves the viewer best
// (topology.ChooseServer), as draft-ietf-wish-whep §4.4 prefers for load
// balancing, or served here when this node is the best. A redirected
// request carries redirectMark and is served where it lands, so a viewer
// is redirected once at most, whatever the nodes' views of each other.

// redirectMark is the query parameter a redirect adds.
const redirectMark = "redirected"

// placedFor is how long a redirect counts against its target's viewers
// at most: until the target's own count, gossiped every 2 s when it
// changes, shows it (or the viewer never arrived).
const placedFor = 5 * time.Second

// placements are the redirects this node made that the targets' gossiped
// viewer counts do not show yet, so that a burst of viewers is spread by
// capacity rather than all sent to the node that looked emptiest.
type placements struct {
	mu     sync.Mutex
	byNode map[string]*placed
}

type placed struct {
	sent []time.Time // oldest first
	seen int         // the target's gossiped viewers when last looked at
}

func (p *placements) add(id string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.of(id).sent = append(p.of(id).sent, now)
}

// pending is how many of the redirects to id its gossiped count (viewers)
// does not show yet: as the count rises, the oldest are taken as arrived.
func (p *placements) pending(id string, viewers int, now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl := p.of(id)
	if arrived := viewers - pl.seen; arrived > 0 {
		pl.sent = pl.sent[min(arrived, len(pl.sent)):]
	}
	pl.seen = viewers
	for len(pl.sent) > 0 && now.Sub(pl.sent[0]) >= placedFor {
		pl.sent = pl.sent[1:]
	}
	return len(pl.sent)
}

// of is id's record, under p.mu.
func (p *placements) of(id string) *placed {
	if p.byNode == nil {
		p.byNode = map[string]*placed{}
	}
	pl := p.byNode[id]
	if pl == nil {
		pl = &placed{}
		p.byNode[id] = pl
	}
	return pl
}

// localViewers is how many WHEP viewers this node serves (child relays'
// links are not viewers).
func (n *Node) localViewers() int { return n.whepEP.Sessions() - n.kids.Sessions() }

// errNoRoom: every node is at its viewer capacity.
var errNoRoom = &webrtchttp.Error{Status: http.StatusServiceUnavailable, RetryAfter: 5 * time.Second,
	Message: "every node of the cluster is at its viewer capacity (-max-viewers); retry later"}

// placeViewer is the WHEP endpoint's Place: where a viewer of stream is
// best served.
func (n *Node) placeViewer(r *http.Request, stream string) (string, error) {
	here := n.cfg.MaxViewers <= 0 || n.localViewers() < n.cfg.MaxViewers
	if r.Header.Get(upstream.NodeHeader) != "" {
		return "", nil // a child relay's link: it chose this parent itself
	}
	if r.URL.Query().Has(redirectMark) || !n.cfg.WHEPRedirect || n.cluster == nil || n.dir == nil {
		if !here {
			return "", errNoRoom
		}
		return "", nil
	}
	servers, ok := n.servers(r.Context(), stream)
	if !ok {
		if !here {
			return "", errNoRoom
		}
		return "", nil // not published anywhere known: answered here (404)
	}
	best, err := topology.ChooseServer(servers, n.viewerZone(r))
	if err != nil {
		return "", errNoRoom
	}
	if best.ID == n.cfg.NodeID {
		return "", nil
	}
	base := n.baseURL(best.ID)
	if base == "" {
		return "", nil
	}
	n.placed.add(best.ID, time.Now())
	q := r.URL.Query()
	q.Set(redirectMark, "1")
	return base + "/whep/" + url.PathEscape(stream) + "?" + q.Encode(), nil
}

// sessionBase is the WHEP endpoint's SessionBase: a redirected viewer
// reached this node at the base a redirect gave it (this node's
// -public-url or cluster address), so its session is named there.
func (n *Node) sessionBase(r *http.Request) string {
	if !r.URL.Query().Has(redirectMark) || n.cluster == nil {
		return ""
	}
	return n.baseURL(n.cfg.NodeID)
}

// viewerZone is the zone -zone-map gives the viewer's address (the
// client's, behind -trusted-proxies), "" when unknown.
func (n *Node) viewerZone(r *http.Request) string {
	a, _ := netip.ParseAddrPort(r.RemoteAddr)
	return n.zones.Zone(a.Addr())
}

// servers is what placement knows of every member for stream: capacity
// and viewers from gossip (this node's own counted live, others' with the
// viewers this node has just sent them), warmth from the directory. ok is
// false when the stream is published nowhere the directory knows.
func (n *Node) servers(ctx context.Context, stream string) ([]topology.Server, bool) {
	ctx, cancel := context.WithTimeout(ctx, directoryWait)
	defer cancel()
	e, found, err := n.dir.Lookup(ctx, stream)
	if err != nil || !found {
		return nil, false
	}
	warm := map[string]bool{e.Origin: true}
	if edges, err := n.dir.Edges(ctx); err == nil {
		for _, ed := range edges {
			if ed.Stream == stream {
				warm[ed.Child] = true
			}
		}
	}
	now := time.Now()
	var out []topology.Server
	for _, m := range n.cluster.Members() {
		s := topology.Server{ID: m.ID, Zone: m.Zone, Relay: m.Role == string(RoleRelay), Draining: m.Draining,
			Viewers: m.Viewers + n.placed.pending(m.ID, m.Viewers, now), MaxViewers: m.MaxViewers, Warm: warm[m.ID]}
		if m.ID == n.cfg.NodeID {
			s.Viewers, s.Draining, s.MaxViewers = n.localViewers(), n.draining.Load(), n.cfg.MaxViewers
		}
		out = append(out, s)
	}
	return out, true
}

// baseURL is where viewers reach member id: its -public-url, or http://
// and its cluster address.
func (n *Node) baseURL(id string) string {
	for _, m := range n.cluster.Members() {
		if m.ID == id {
			if m.URL != "" {
				return m.URL
			}
			return "http://" + m.HTTP
		}
	}
	return ""
}
