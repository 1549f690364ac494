package topology

import (
	"cmp"
	"slices"
)

// Reparent is the tree's response to a parent leaving (failed, or draining
// and still listed with Draining set): new parents for its children, and
// only for them. Every child computes the same answer from the same
// snapshot and applies its own entry, so no coordination is needed.
//
// The children with the tallest subtrees choose first, so the one that
// would sink deepest takes the freed slot nearest the origin.
func Reparent(tree Tree, members []Member, gone string, k int) (map[string]string, error) {
	t := Tree{Origin: tree.Origin, Parent: make(map[string]string, len(tree.Parent))}
	for c, p := range tree.Parent {
		if c != gone {
			t.Parent[c] = p
		}
	}
	ix := t.index()
	orphans := slices.Clone(ix.kids[gone])
	height := make(map[string]int, len(orphans))
	for _, o := range orphans {
		_, height[o] = ix.subtree(o)
	}
	slices.SortFunc(orphans, func(a, b string) int {
		return cmp.Or(cmp.Compare(height[b], height[a]), cmp.Compare(a, b))
	})
	byID := make(map[string]Member, len(members))
	live := make([]Member, 0, len(members))
	for _, m := range members {
		if m.ID != gone {
			byID[m.ID] = m
			live = append(live, m)
		}
	}
	out := make(map[string]string, len(orphans))
	for _, o := range orphans {
		self, ok := byID[o]
		if !ok {
			continue // the orphan is gone too; its own children move in turn
		}
		p, err := ChooseParent(t, live, self, k)
		if err != nil {
			return out, err
		}
		t.Parent[o] = p
		out[o] = p
	}
	return out, nil
}
