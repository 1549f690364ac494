package topology

import (
	"errors"
	"math"
)

// Member is what parent selection knows of a node (from membership).
type Member struct {
	ID       string
	Zone     string
	Load     float64 // 0 idle .. 1 saturated
	Draining bool
}

// Tree is one stream's repeater tree: the origin at the root and, for each
// relay carrying the stream, its parent. It is a value: functions here never
// change it.
type Tree struct {
	Origin string
	Parent map[string]string // relay → parent (a relay or the origin)
}

// ErrNoParent is returned when no node can take another child.
var ErrNoParent = errors.New("no node in the tree can take another child")

// Depth is the number of hops from the origin (0) to id, or -1 when id is
// not connected to the origin (or sits on a cycle, which selection never
// makes but a snapshot assembled from stale reports might show).
func (t Tree) Depth(id string) int {
	d := 0
	for cur := id; cur != t.Origin; d++ {
		p, ok := t.Parent[cur]
		if !ok || d > len(t.Parent) {
			return -1
		}
		cur = p
	}
	return d
}

// Children returns the number of relays whose parent is id.
func (t Tree) Children(id string) int {
	n := 0
	for _, p := range t.Parent {
		if p == id {
			n++
		}
	}
	return n
}

// index is a tree's derived structure, computed once per decision in O(N).
type index struct {
	kids  map[string][]string
	depth map[string]int // -1: not connected to the origin
}

func (t Tree) index() index {
	ix := index{kids: map[string][]string{}, depth: map[string]int{t.Origin: 0}}
	for c, p := range t.Parent {
		ix.kids[p] = append(ix.kids[p], c)
	}
	// Breadth-first from the origin: whatever it does not reach (a detached
	// part, a cycle in a stale snapshot) has no depth.
	queue := []string{t.Origin}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, c := range ix.kids[id] {
			if _, seen := ix.depth[c]; !seen {
				ix.depth[c] = ix.depth[id] + 1
				queue = append(queue, c)
			}
		}
	}
	for c := range t.Parent {
		if _, ok := ix.depth[c]; !ok {
			ix.depth[c] = -1
		}
	}
	return ix
}

// subtree returns node and its descendants, and the subtree's height.
func (ix index) subtree(node string) (map[string]bool, int) {
	in := map[string]bool{node: true}
	level, h := []string{node}, 0
	for len(level) > 0 {
		var next []string
		for _, id := range level {
			for _, c := range ix.kids[id] {
				if !in[c] {
					in[c] = true
					next = append(next, c)
				}
			}
		}
		if len(next) > 0 {
			h++
		}
		level = next
	}
	return in, h
}

// MaxDepth is the bound the tree keeps: ceil(log_k N) + 1 for N relays
// carrying the stream, with fan-out k.
func MaxDepth(n, k int) int {
	if n <= 1 || k < 2 {
		return max(n, 1)
	}
	// Integer arithmetic: the smallest e with k^e >= n.
	e, p := 0, 1
	for p < n {
		if p > math.MaxInt/k {
			e++
			break
		}
		p *= k
		e++
	}
	return e + 1
}
