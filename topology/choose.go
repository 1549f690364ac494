package topology

import (
	"cmp"
	"math"
	"slices"
)

// ChooseParent picks the parent for self in tree, from the live members, for
// a fan-out of at most k relay children per node (the origin included). It
// is a pure function of its arguments: no I/O, no clock, no randomness, so
// every node that holds the same snapshot computes the same answer.
//
// self may be joining (not in tree.Parent) or moving with its subtree (its
// parent failed or is draining; then tree.Parent[self] is ignored). The
// rules, in order:
//   - candidates are the origin and the relays connected to it, alive in
//     members, not draining, not self or below self (no cycle can form),
//     with fewer than k relay children;
//   - a candidate is kept only if self's subtree then stays within
//     MaxDepth(N, k), N counting self; if none is, the shallowest wins (the
//     tree is then too full to keep the bound and says so by depth);
//   - among those: the shallowest, then the same zone as self, then the
//     lighter load (in tenths), then fewer children, then the smaller id.
//
// Shallowest first keeps the upper levels full, which is what keeps the
// depth within the bound as the tree grows; zone and load choose among the
// parents of one level.
func ChooseParent(tree Tree, members []Member, self Member, k int) (string, error) {
	alive := make(map[string]Member, len(members))
	for _, m := range members {
		alive[m.ID] = m
	}
	n := len(tree.Parent)
	if _, in := tree.Parent[self.ID]; !in {
		n++
	}
	ix := tree.index()
	below, selfHeight := ix.subtree(self.ID)
	bound := MaxDepth(n, k)

	type cand struct {
		id         string
		depth      int
		zone, load int
		children   int
	}
	var within, beyond []cand
	consider := func(id string) {
		m, ok := alive[id]
		if !ok || m.Draining || below[id] {
			return
		}
		d := ix.depth[id]
		if d < 0 {
			return
		}
		kids := len(ix.kids[id])
		if tree.Parent[self.ID] == id {
			kids-- // self's own slot is about to be freed and retaken
		}
		if kids >= k {
			return
		}
		c := cand{id: id, depth: d, children: kids, load: int(math.Round(m.Load * 10))}
		if m.Zone != self.Zone {
			c.zone = 1
		}
		if d+1+selfHeight <= bound {
			within = append(within, c)
		} else {
			beyond = append(beyond, c)
		}
	}
	consider(tree.Origin)
	for id := range tree.Parent {
		consider(id)
	}
	pool := within
	if len(pool) == 0 {
		pool = beyond
	}
	if len(pool) == 0 {
		return "", ErrNoParent
	}
	best := slices.MinFunc(pool, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.depth, b.depth), cmp.Compare(a.zone, b.zone), cmp.Compare(a.load, b.load),
			cmp.Compare(a.children, b.children), cmp.Compare(a.id, b.id))
	})
	return best.id, nil
}
