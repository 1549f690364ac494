package topology

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// sim is a stream's tree under a random life of joins, failures and drains,
// with parent choice as the only policy, as every relay would apply it.
type sim struct {
	t       *testing.T
	k       int
	rng     *rand.Rand
	tree    Tree
	members map[string]Member
	idle    []string // relays not carrying the stream
	excess  int
}

func newSim(t *testing.T, k int, seed uint64, n int) *sim {
	s := &sim{t: t, k: k, rng: rand.New(rand.NewPCG(seed, uint64(k))),
		tree: Tree{Origin: "origin", Parent: map[string]string{}}, members: map[string]Member{"origin": {ID: "origin", Zone: "z0"}}}
	for i := 0; i < n; i++ {
		s.idle = append(s.idle, fmt.Sprintf("r%04d", i))
	}
	return s
}

func (s *sim) memberList() []Member {
	out := make([]Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, m)
	}
	return out
}

func (s *sim) join() {
	i := s.rng.IntN(len(s.idle))
	id := s.idle[i]
	s.idle = slices.Delete(s.idle, i, i+1)
	m := Member{ID: id, Zone: fmt.Sprintf("z%d", s.rng.IntN(3)), Load: s.rng.Float64()}
	s.members[id] = m
	p, err := ChooseParent(s.tree, s.memberList(), m, s.k)
	if err != nil {
		s.t.Fatalf("join %s: %v", id, err)
	}
	s.tree.Parent[id] = p
}

// leave removes a relay: failed (gone from membership at once) or drained
// (still a member, marked draining, while its children move). Either way
// only its children move, each by itself, in random order.
func (s *sim) leave(drain bool) string {
	relays := make([]string, 0, len(s.tree.Parent))
	for id := range s.tree.Parent {
		relays = append(relays, id)
	}
	slices.Sort(relays)
	x := relays[s.rng.IntN(len(relays))]
	if drain {
		m := s.members[x]
		m.Draining = true
		s.members[x] = m
	} else {
		delete(s.members, x)
	}
	moves, err := Reparent(s.tree, s.memberList(), x, s.k)
	if err != nil {
		s.t.Fatalf("re-parent after %s left: %v", x, err)
	}
	delete(s.tree.Parent, x)
	for o, p := range moves {
		s.tree.Parent[o] = p
	}
	delete(s.members, x)
	s.idle = append(s.idle, x)
	return x
}

// check asserts every property of the tree.
func (s *sim) check(step int, before map[string]string, left string) {
	ix := s.tree.index()
	n := len(s.tree.Parent)
	bound := MaxDepth(n, s.k)
	for id := range s.tree.Parent {
		d := ix.depth[id]
		if d < 1 {
			s.t.Fatalf("step %d: %s is not connected to the origin (a cycle or a detached part)", step, id)
		}
		if d > bound {
			s.excess = max(s.excess, d-bound)
		}
		if old, ok := before[id]; ok && old != s.tree.Parent[id] && old != left {
			s.t.Fatalf("step %d: %s moved from %s although only %s's children should move", step, id, old, left)
		}
	}
	for id, kids := range ix.kids {
		if len(kids) > s.k {
			s.t.Fatalf("step %d: %s has %d relay children, over %d", step, id, len(kids), s.k)
		}
	}
}

// 1,000 relays: a flash crowd joins, then a long random life of joins,
// failures and drains. After every step: every relay is connected to the
// origin (no cycle, nothing detached), no node has more than k relay
// children, and only the children of the node that left have moved.
//
// The depth bound ceil(log_k N)+1 is measured, not asserted: it cannot hold
// together with "only the children move" (TestDepthBoundCannotSurviveEveryFailure
// proves it for k = 2 by solving the game against every possible policy).
// When a node near the top of a full tree fails, its orphans' subtrees
// outnumber the free slots as shallow as they were, so all but one sink;
// over a long life they sink further. Keeping the bound needs moves that
// are not failure responses (rebalancing), which the issue rules out.
// The test reports the worst excess seen.
func TestSimulationThousandNodes(t *testing.T) {
	for _, k := range []int{2, 3, 8} {
		for seed := uint64(1); seed <= 2; seed++ {
			t.Run(fmt.Sprintf("k=%d/seed=%d", k, seed), func(t *testing.T) {
				s := newSim(t, k, seed, 1000)
				steps, maxSeen := 0, 0
				step := func(op func() string) {
					before := make(map[string]string, len(s.tree.Parent))
					for c, p := range s.tree.Parent {
						before[c] = p
					}
					left := op()
					steps++
					s.check(steps, before, left)
					maxSeen = max(maxSeen, len(s.tree.Parent))
				}
				for len(s.idle) > 0 {
					step(func() string { s.join(); return "" })
				}
				for i := 0; i < 2000; i++ {
					switch r := s.rng.IntN(4); {
					case (r < 2 && len(s.idle) > 0) || len(s.tree.Parent) < 2:
						step(func() string { s.join(); return "" })
					case r == 2:
						step(func() string { return s.leave(false) })
					default:
						step(func() string { return s.leave(true) })
					}
				}
				same, edges := 0, 0
				for c, p := range s.tree.Parent {
					if p != s.tree.Origin {
						edges++
						if s.members[c].Zone == s.members[p].Zone {
							same++
						}
					}
				}
				t.Logf("max excess over bound: %d", s.excess)
				t.Logf("%d steps, up to %d relays; %d%% of relay-to-relay edges within a zone (3 zones)", steps, maxSeen, 100*same/max(edges, 1))
			})
		}
	}
}
