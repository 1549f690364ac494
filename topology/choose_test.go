package topology

import (
	"errors"
	"testing"
)

func members(ids ...string) []Member {
	out := []Member{}
	for _, id := range ids {
		out = append(out, Member{ID: id, Zone: "a"})
	}
	return out
}

func TestMaxDepth(t *testing.T) {
	cases := []struct{ n, k, want int }{{1, 8, 1}, {2, 8, 2}, {8, 8, 2}, {9, 8, 3}, {64, 8, 3}, {65, 8, 4}, {1000, 8, 5}, {1000, 2, 11}, {3, 2, 3}}
	for _, c := range cases {
		if got := MaxDepth(c.n, c.k); got != c.want {
			t.Errorf("MaxDepth(%d, %d) = %d, want %d", c.n, c.k, got, c.want)
		}
	}
}

func TestChooseParentRules(t *testing.T) {
	tree := Tree{Origin: "o", Parent: map[string]string{"a": "o", "b": "o", "c": "a", "d": "c"}}
	cases := []struct {
		name    string
		tree    Tree
		members []Member
		self    Member
		k       int
		want    string
		err     error
	}{
		{"the origin while it has room", tree, members("o", "a", "b", "c", "d"), Member{ID: "x", Zone: "a"}, 3, "o", nil},
		{"the shallowest relay once the origin is full", tree, members("o", "a", "b", "c", "d"), Member{ID: "x", Zone: "a"}, 2, "b", nil},
		{"same zone among one level", Tree{Origin: "o", Parent: map[string]string{"a": "o", "b": "o"}},
			[]Member{{ID: "o", Zone: "eu"}, {ID: "a", Zone: "us"}, {ID: "b", Zone: "eu"}}, Member{ID: "x", Zone: "us"}, 2, "a", nil},
		{"lighter load among one level and zone", Tree{Origin: "o", Parent: map[string]string{"a": "o", "b": "o"}},
			[]Member{{ID: "o"}, {ID: "a", Load: 0.9}, {ID: "b", Load: 0.1}}, Member{ID: "x"}, 2, "b", nil},
		{"never a draining node", Tree{Origin: "o", Parent: map[string]string{"a": "o", "b": "o"}},
			[]Member{{ID: "o"}, {ID: "a", Draining: true}, {ID: "b", Load: 0.9}}, Member{ID: "x"}, 2, "b", nil},
		{"never a dead node", Tree{Origin: "o", Parent: map[string]string{"a": "o", "b": "o"}},
			members("o", "b"), Member{ID: "x", Zone: "a"}, 2, "b", nil},
		{"never its own descendant (no cycle)", Tree{Origin: "o", Parent: map[string]string{"a": "o", "c": "a", "d": "c"}},
			members("o", "c", "d"), Member{ID: "c", Zone: "a"}, 1, "", ErrNoParent},
		{"a mover takes back its own slot", Tree{Origin: "o", Parent: map[string]string{"a": "o"}},
			members("o", "a"), Member{ID: "a", Zone: "a"}, 1, "o", nil},
		{"nothing has room", Tree{Origin: "o", Parent: map[string]string{"a": "o"}},
			members("o", "a"), Member{ID: "x", Zone: "a"}, 1, "a", nil},
		{"no live node at all", Tree{Origin: "o", Parent: map[string]string{}},
			nil, Member{ID: "x"}, 8, "", ErrNoParent},
	}
	for _, c := range cases {
		got, err := ChooseParent(c.tree, c.members, c.self, c.k)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: got %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
}

// A subtree that moves must still fit the depth bound: a tall one goes
// high in the tree, not under a deep leaf.
func TestMovingSubtreeKeepsTheBound(t *testing.T) {
	// o has a, b; a has c; b has d, e. k=2, N=6: bound MaxDepth(6,2)=4.
	// c failed-parent scenario: x (with a chain of 2 below it) moves.
	tree := Tree{Origin: "o", Parent: map[string]string{"a": "o", "b": "o", "d": "b", "e": "d", "x": "gone", "y": "x", "z": "y"}}
	got, err := ChooseParent(tree, members("o", "a", "b", "d", "e", "x", "y", "z"), Member{ID: "x", Zone: "a"}, 2)
	if err != nil || got != "a" {
		t.Fatalf("got %q, %v; want a (x lands at depth 2, its chain at 4 = the bound)", got, err)
	}
}

func TestReparentMovesOnlyTheChildrenTallestFirst(t *testing.T) {
	// o → a → {b, c}; b has a child d (taller subtree). a fails, k = 2:
	// b (taller) takes a's slot at the origin; c goes under the next best.
	tree := Tree{Origin: "o", Parent: map[string]string{"a": "o", "e": "o", "b": "a", "c": "a", "d": "b"}}
	moves, err := Reparent(tree, members("o", "e", "b", "c", "d"), "a", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(moves) != 2 || moves["b"] != "o" || moves["c"] != "e" {
		t.Fatalf("moves %v, want b→o and c→e", moves)
	}
}
