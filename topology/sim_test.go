package topology

import (
	"fmt"
	"maps"
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

// rebalance is a quiet period: every relay computes Rebalance from the same
// snapshot and makes its own move. Afterwards the tree is within its depth
// bound, still a tree under the origin, and within the fan-out.
func (s *sim) rebalance(step int) int {
	moves := Rebalance(s.tree, s.memberList(), s.k)
	for v, p := range moves {
		s.tree.Parent[v] = p
	}
	s.check(step, nil, "")
	ix := s.tree.index()
	bound := MaxDepth(len(s.tree.Parent), s.k)
	for id := range s.tree.Parent {
		if d := ix.depth[id]; d > bound {
			s.t.Fatalf("step %d: after rebalancing, %s is at depth %d, past the bound %d for %d relays (k=%d)", step, id, d, bound, len(s.tree.Parent), s.k)
		}
	}
	return len(moves)
}

// churn is a random life of joins, failures and drains: after every step
// the invariants (check), and every quiet steps a quiet period (rebalance)
// after which the depth bound holds. It reports the moves rebalancing made
// per failure.
func (s *sim) churn(steps, quiet int) (failures, moves, worst int) {
	sinceQuiet := 0
	for i := 1; i <= steps; i++ {
		before := make(map[string]string, len(s.tree.Parent))
		for c, p := range s.tree.Parent {
			before[c] = p
		}
		left := ""
		switch r := s.rng.IntN(4); {
		case (r < 2 && len(s.idle) > 0) || len(s.tree.Parent) < 2:
			s.join()
		case r == 2:
			left = s.leave(false)
		default:
			left = s.leave(true)
		}
		if left != "" {
			failures++
			sinceQuiet++
		}
		s.check(i, before, left)
		if i%quiet == 0 {
			n := s.rebalance(i)
			moves += n
			if sinceQuiet > 0 {
				worst = max(worst, (n+sinceQuiet-1)/sinceQuiet)
			}
			sinceQuiet = 0
		}
	}
	return failures, moves, worst
}

// 1,000 relays: a flash crowd joins, then a long random life of joins,
// failures and drains. After every step: every relay is connected to the
// origin (no cycle, nothing detached), no node has more than k relay
// children, and only the children of the node that left have moved. After
// every quiet period (every 10 steps) rebalancing has brought the tree
// back within depth ceil(log_k N)+1.
//
// Between quiet periods the bound cannot be asserted: it cannot hold
// together with "only the children move" (TestDepthBoundCannotSurviveEveryFailure
// proves it for k = 2). The test reports how far past it the tree sank,
// and how many moves rebalancing made per failure.
func TestSimulationThousandNodes(t *testing.T) {
	for _, k := range []int{2, 3, 8} {
		for seed := uint64(1); seed <= 2; seed++ {
			t.Run(fmt.Sprintf("k=%d/seed=%d", k, seed), func(t *testing.T) {
				s := newSim(t, k, seed, 1000)
				step := 0
				for len(s.idle) > 0 {
					before := maps.Clone(s.tree.Parent)
					s.join()
					step++
					s.check(step, before, "")
				}
				s.rebalance(step)
				failures, moves, worst := s.churn(2000, 10)
				same, edges := 0, 0
				for c, p := range s.tree.Parent {
					if p != s.tree.Origin {
						edges++
						if s.members[c].Zone == s.members[p].Zone {
							same++
						}
					}
				}
				t.Logf("max excess over the bound between quiet periods: %d", s.excess)
				t.Logf("%d failures and drains; rebalancing made %d moves (%.2f per failure, at most %d per failure in one quiet period); %d%% of relay-to-relay edges within a zone (3 zones)",
					failures, moves, float64(moves)/float64(max(failures, 1)), worst, 100*same/max(edges, 1))
			})
		}
	}
}

// 10,000 relays: the tree the flash crowd makes (levels filled in order,
// as ChooseParent places joiners; built directly, since 10,000 joins one
// by one cost minutes under the race detector), then churn in bursts of
// ten steps, each followed by a quiet period.
func TestSimulationTenThousandNodes(t *testing.T) {
	for _, k := range []int{2, 8} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			s := newSim(t, k, 7, 10000)
			level := []string{s.tree.Origin}
			for len(s.idle) > 0 {
				var next []string
				for _, p := range level {
					for c := 0; c < k && len(s.idle) > 0; c++ {
						id := s.idle[len(s.idle)-1]
						s.idle = s.idle[:len(s.idle)-1]
						s.members[id] = Member{ID: id, Zone: fmt.Sprintf("z%d", s.rng.IntN(3)), Load: s.rng.Float64()}
						s.tree.Parent[id] = p
						next = append(next, id)
					}
				}
				level = next
			}
			s.rebalance(0)
			failures, moves, worst := s.churn(150, 10)
			t.Logf("max excess over the bound between quiet periods: %d", s.excess)
			t.Logf("%d failures and drains; rebalancing made %d moves (%.2f per failure, at most %d per failure in one quiet period)",
				failures, moves, float64(moves)/float64(max(failures, 1)), worst)
		})
	}
}
