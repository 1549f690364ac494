package topology

import (
	"maps"
	"slices"
	"testing"
)

func TestRebalance(t *testing.T) {
	m := func(ids ...string) []Member {
		out := []Member{{ID: "o"}}
		for _, id := range ids {
			out = append(out, Member{ID: id})
		}
		return out
	}
	draining := func(ms []Member, id string) []Member {
		for i := range ms {
			if ms[i].ID == id {
				ms[i].Draining = true
			}
		}
		return ms
	}
	// A sunken chain under a: o→a→c→d→e→f, and b with room. N = 6,
	// k = 2: bound ceil(log2 6)+1 = 4, f is at 5.
	chain := map[string]string{"a": "o", "b": "o", "c": "a", "d": "c", "e": "d", "f": "e"}
	for _, c := range []struct {
		name    string
		parent  map[string]string
		members []Member
		k       int
		want    map[string]string
	}{
		{"within the bound: nothing moves", map[string]string{"a": "o", "b": "o", "c": "a", "d": "b"}, m("a", "b", "c", "d"), 2, map[string]string{}},
		// c's subtree (height 3) fits nowhere shallower; d's (height 2)
		// fits under b: one move lifts d, e and f.
		{"the highest subtree that fits moves, whole", chain, m("a", "b", "c", "d", "e", "f"), 2, map[string]string{"d": "b"}},
		// b is draining: its slots are not offered, and d takes a's
		// second slot instead (one more child than b has).
		{"a draining node takes no one", chain, draining(m("a", "b", "c", "d", "e", "f"), "b"), 2, map[string]string{"d": "a"}},
		// b is gone from membership (its edge still listed): the same.
		{"a dead node takes no one", chain, m("a", "c", "d", "e", "f"), 2, map[string]string{"d": "a"}},
		// k = 3 leaves room under the origin: bound ceil(log3 6)+1 = 3,
		// e (depth 4) and f (5) are too deep; the highest subtree that
		// fits, d's (height 2), moves under the origin.
		{"room at the top", chain, m("a", "b", "c", "d", "e", "f"), 3, map[string]string{"d": "o"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tree := Tree{Origin: "o", Parent: c.parent}
			got := Rebalance(tree, c.members, c.k)
			if !maps.Equal(got, c.want) {
				t.Fatalf("moves %v, want %v", got, c.want)
			}
			// The same answer whatever the order of the snapshot.
			rev := slices.Clone(c.members)
			slices.Reverse(rev)
			if again := Rebalance(tree, rev, c.k); !maps.Equal(again, got) {
				t.Fatalf("moves %v with the members reversed, %v before", again, got)
			}
		})
	}
}
