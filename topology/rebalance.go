package topology

import (
	"cmp"
	"math"
	"slices"
)

// Rebalance is the tree's way back to its depth bound once churn stops:
// new parents (relay → parent) that bring every relay within MaxDepth(N, k).
// A failure moves only the failed node's children (Reparent), and when
// nodes near the top fail their orphans' subtrees sink below the bound,
// which no placement can avoid (TestDepthBoundCannotSurviveEveryFailure).
// Rebalance lifts them afterwards; the relays make these moves before they
// break (linked to the new parent and switched at its keyframe before the
// old link closes), so they cost viewers nothing.
//
// Like Reparent it is a pure function: every relay computes the same moves
// from the same snapshot and makes its own entry, and the tree that results
// is the one computed here. It is greedy and moves little: while a relay is
// deeper than the bound, the highest subtree on the path to the deepest
// relay that fits under a shallower parent with a free slot moves there,
// so one move lifts a whole sunken subtree. The deepest relay is a leaf,
// and when every node down to depth B-1 has k children the tree holds at
// least k^B > N relays, so a slot for that leaf always exists among the
// members that can take children: each round puts at least one relay back
// within the bound, and the moves number at most the relays that were too
// deep (in practice about one per sunken subtree).
func Rebalance(tree Tree, members []Member, k int) map[string]string {
	byID := make(map[string]Member, len(members))
	for _, m := range members {
		byID[m.ID] = m
	}
	t := Tree{Origin: tree.Origin, Parent: make(map[string]string, len(tree.Parent))}
	for c, p := range tree.Parent {
		t.Parent[c] = p
	}
	bound := MaxDepth(len(t.Parent), k)
	moves := map[string]string{}
	for range t.Parent {
		ix := t.index()
		deepest := ""
		for id, d := range ix.depth {
			if d > bound && (deepest == "" || d > ix.depth[deepest] || d == ix.depth[deepest] && id < deepest) {
				deepest = id
			}
		}
		if deepest == "" {
			break
		}
		v, p := lift(t, ix, byID, deepest, bound, k)
		if v == "" {
			break // only draining or dead nodes have room: nothing to do until they go
		}
		t.Parent[v] = p
		moves[v] = p
	}
	for v, p := range moves {
		if tree.Parent[v] == p {
			delete(moves, v)
		}
	}
	return moves
}

// lift finds the move for one round: the highest relay on the path from
// the origin to deepest whose subtree fits, whole, under a shallower
// parent, and that parent (chosen as ChooseParent would: shallowest, then
// zone, load, fewer children, id).
func lift(t Tree, ix index, byID map[string]Member, deepest string, bound, k int) (string, string) {
	var path []string
	for cur := deepest; cur != t.Origin; cur = t.Parent[cur] {
		path = append(path, cur)
	}
	slices.Reverse(path)
	type cand struct {
		id                string
		depth, zone, load int
		children          int
	}
	for _, v := range path {
		self, ok := byID[v]
		if !ok || self.Draining || ix.depth[v] < 2 {
			continue
		}
		in, height := ix.subtree(v)
		var pool []cand
		consider := func(id string) {
			m, ok := byID[id]
			d := ix.depth[id]
			if !ok || m.Draining || in[id] || d < 0 || d+1 >= ix.depth[v] || d+1+height > bound || len(ix.kids[id]) >= k {
				return
			}
			c := cand{id: id, depth: d, children: len(ix.kids[id]), load: int(math.Round(m.Load * 10))}
			if m.Zone != self.Zone {
				c.zone = 1
			}
			pool = append(pool, c)
		}
		consider(t.Origin)
		for id := range t.Parent {
			consider(id)
		}
		if len(pool) == 0 {
			continue
		}
		best := slices.MinFunc(pool, func(a, b cand) int {
			return cmp.Or(cmp.Compare(a.depth, b.depth), cmp.Compare(a.zone, b.zone), cmp.Compare(a.load, b.load),
				cmp.Compare(a.children, b.children), cmp.Compare(a.id, b.id))
		})
		return v, best.id
	}
	return "", ""
}
