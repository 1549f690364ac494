package upstream

import (
	"context"
	"net/url"
	"time"

	"github.com/relaymesh/relaymesh/internal/errs"
	"github.com/relaymesh/relaymesh/topology"
	"github.com/relaymesh/relaymesh/topology/membership"
)

// directoryWait bounds one look at the stream directory.
const directoryWait = 2 * time.Second

// snapshot is what parent choice works on: one stream's tree from the
// directory and the live members from gossip.
type snapshot struct {
	tree    topology.Tree
	members []topology.Member
	http    map[string]string // node id → HTTP address
	self    topology.Member
}

// snapshot reads stream's tree and the cluster's members. Edges whose
// child is no longer a member are dropped: a relay killed without a goodbye
// leaves its edge in the directory until it expires, and would otherwise
// hold a slot at its parent.
func (r *Relay) snapshot(ctx context.Context, stream string) (snapshot, error) {
	// While NATS is away a viewer's POST gets a 503 in this time instead of
	// waiting for the request's own deadline.
	ctx, cancel := context.WithTimeout(ctx, directoryWait)
	defer cancel()
	e, ok, err := r.p.Directory.Lookup(ctx, stream)
	if err != nil {
		return snapshot{}, errs.Errorf(ErrDirectory, "the cluster's stream directory is unreachable; retry shortly")
	}
	if !ok {
		return snapshot{}, errs.Errorf(ErrNotPublished, "stream %q is not being published in this cluster", stream)
	}
	edges, err := r.p.Directory.Edges(ctx)
	if err != nil {
		return snapshot{}, errs.Errorf(ErrDirectory, "the cluster's stream directory is unreachable; retry shortly")
	}
	s := snapshot{
		tree: topology.Tree{Origin: e.Origin, Parent: map[string]string{}},
		http: map[string]string{e.Origin: e.HTTP},
		self: topology.Member{ID: r.p.NodeID, Zone: r.p.Zone},
	}
	alive := map[string]bool{}
	for _, m := range r.p.Members.Members() {
		alive[m.ID] = true
		s.members = append(s.members, memberOf(m))
		s.http[m.ID] = m.HTTP
		if m.ID == s.self.ID {
			s.self = memberOf(m)
		}
	}
	if r.p.Members.Departed(e.Origin) {
		// Its claim outlives it until a backup origin takes the name (or
		// the claim expires): there is nothing to pull from meanwhile.
		return snapshot{}, errs.Errorf(ErrNoParent, "stream %q's origin %q has gone; retry shortly (a backup publisher's origin takes over, or the publisher returns)", stream, e.Origin)
	}
	if !alive[e.Origin] && r.p.MembersOnly {
		return snapshot{}, errs.Errorf(ErrNotPublished, "stream %q's origin %q is not a member of this cluster; its directory entry is not followed", stream, e.Origin)
	}
	if !alive[e.Origin] {
		// The origin holds its claim in the directory, so it is alive even
		// if gossip has not (yet) shown it to this node.
		s.members = append(s.members, topology.Member{ID: e.Origin})
	}
	for _, ed := range edges {
		if ed.Stream == stream && alive[ed.Child] {
			s.tree.Parent[ed.Child] = ed.Parent
		}
	}
	return s, nil
}

func memberOf(m membership.Meta) topology.Member {
	return topology.Member{ID: m.ID, Zone: m.Zone, Load: m.Load, Draining: m.Draining}
}

// chooseParent picks this relay's parent for stream: topology.Reparent's
// answer when it is moving away from gone (so siblings moving at the same
// moment agree), else topology.ChooseParent's.
func (r *Relay) chooseParent(ctx context.Context, stream, gone string) (id, whepURL, root string, err error) {
	s, err := r.snapshot(ctx, stream)
	if err != nil {
		return "", "", "", err
	}
	k := r.p.MaxChildren
	if gone != "" {
		if moves, err := topology.Reparent(s.tree, s.members, gone, k); err == nil {
			id = moves[s.self.ID]
		}
	}
	if id == "" {
		if id, err = topology.ChooseParent(s.tree, s.members, s.self, k); err != nil {
			return "", "", "", errs.Errorf(ErrNoParent, "no node can feed stream %q to this relay now (every parent has %d relay children or is draining)", stream, k)
		}
	}
	return id, "http://" + s.http[id] + "/whep/" + url.PathEscape(stream), s.tree.Origin, nil
}

// CheckChild refuses child as a relay child for stream when it sits above
// this node in the stream's tree, which would close a loop (508). Parent
// choice never makes one from a consistent snapshot; this guards against
// two relays moving at once on different snapshots.
func (r *Relay) CheckChild(ctx context.Context, stream, child string) error {
	if child == r.p.NodeID {
		return errs.Errorf(ErrLoop, "a relay cannot feed itself (node id %q)", child)
	}
	s, err := r.snapshot(ctx, stream)
	if err != nil {
		return nil // no directory: the pull that follows says what is wrong
	}
	for cur, hops := s.tree.Parent[r.p.NodeID], 0; cur != "" && hops <= len(s.tree.Parent); cur, hops = s.tree.Parent[cur], hops+1 {
		if cur == child {
			return errs.Errorf(ErrLoop, "relay %q is above this node in stream %q's tree; it cannot also be below it", child, stream)
		}
	}
	return nil
}
