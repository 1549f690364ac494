package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
	"github.com/relaymesh/relaymesh/topology"
)

// rebalanceRelays is the tree's size: fan-out 2, 16 relays pinned to one
// stream. With the bound's one level of slack no single failure of such a
// tree sinks it past the bound (nor any 4 failures and rejoins, searched
// with the simulator); a run of failures near its top does.
const rebalanceRelays = 16

// rebalanceAfter is the relays' -rebalance-after: longer than the gaps
// between the run's kills, so rebalancing starts after the last one.
const rebalanceAfter = 5 * time.Second

// runRebalance measures, rounds times on fresh processes, how long a tree
// takes to come back within its depth bound once failures have sunk it
// past the bound (the failover issue, #13): 16 relays join one by one, a
// run of kill -9s planned with the simulator (topology.Reparent, greedily
// the relay whose failure leaves the deepest tree) is made, each once the
// last one's children have re-attached, and the time from the last kill to
// a tree within ceil(log2 N)+1 is read from /api/topology.
func runRebalance(ctx context.Context, originBin string, rounds int) error {
	relayBin := filepath.Join(filepath.Dir(originBin), "relay")
	logs, aus, err := failoverSetup("rebalance")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logs)
	var settle []time.Duration
	var excess, moves, kills []int
	for round := 1; round <= rounds; round++ {
		f := &fleet{ctx: ctx, logs: logs, args: []string{"-log-level", "warn", "-max-children", "2", "-rebalance-after", rebalanceAfter.String()}}
		r, err := rebalanceRound(ctx, f, originBin, relayBin, aus)
		f.close()
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		settle, excess, moves, kills = append(settle, r.settle), append(excess, r.excess), append(moves, r.moves), append(kills, r.kills)
	}
	med := func(v []int) (int, int) { s := slices.Sorted(slices.Values(v)); return s[len(s)/2], s[len(s)-1] }
	fmt.Printf("rebalancing: %d relays, fan-out 2, -rebalance-after %v, %d rounds\n", rebalanceRelays, rebalanceAfter, rounds)
	fmt.Println("measure                                          p50       max")
	fmt.Printf("%-45s  %6.0f ms  %6.0f ms\n", "last kill to a tree within its bound", quantileMS(settle, 0.5), quantileMS(settle, 1))
	for _, row := range []struct {
		name string
		v    []int
	}{{"kills planned to sink the tree", kills}, {"levels past the bound after the last", excess}, {"relays moved by rebalancing", moves}} {
		a, b := med(row.v)
		fmt.Printf("%-45s  %6d     %6d\n", row.name, a, b)
	}
	return nil
}

type rebalanceResult struct {
	settle               time.Duration
	excess, moves, kills int
}

func rebalanceRound(ctx context.Context, f *fleet, originBin, relayBin string, aus [][]byte) (rebalanceResult, error) {
	var res rebalanceResult
	origin, err := f.start(originBin, "origin", nodeproc.Options{ExposeNATS: true})
	if err != nil {
		return res, err
	}
	p, err := whipclient.Publish(ctx, origin.Base+"/whip/deep", whipclient.Options{}, aus, nil)
	if err != nil {
		return res, err
	}
	defer p.Close()
	relays := map[string]*nodeproc.Proc{}
	for i := 1; i <= rebalanceRelays; i++ {
		name := fmt.Sprintf("r%02d", i)
		r, err := f.start(relayBin, name, nodeproc.Options{Args: []string{"-nats", origin.NATS, "-join", origin.Gossip, "-pin", "deep"}})
		if err != nil {
			return res, err
		}
		relays[name] = r
		if err := until(ctx, 15*time.Second, func() bool { _, ok := treeOf(origin.Base, "deep").Parent[name]; return ok }); err != nil {
			return res, fmt.Errorf("%s never joined the tree: %w", name, err)
		}
	}
	tree := treeOf(origin.Base, "deep")
	plan := planSinking(tree)
	if plan == nil {
		return res, fmt.Errorf("no run of failures sinks this tree past its bound: %v", tree.Parent)
	}
	res.kills = len(plan)
	var kill time.Time
	for _, id := range plan {
		relays[id].Kill()
		kill = time.Now()
		if err := until(ctx, 15*time.Second, func() bool { return attached(treeOf(origin.Base, "deep"), id) }); err != nil {
			return res, fmt.Errorf("%s's children never re-attached: %w", id, err)
		}
	}
	sunk := treeOf(origin.Base, "deep")
	res.excess = maxDepth(sunk) - topology.MaxDepth(len(sunk.Parent), 2)
	var settled topology.Tree
	if err := until(ctx, 60*time.Second, func() bool {
		t := treeOf(origin.Base, "deep")
		settled = t
		return attached(t, "") && len(t.Parent) == len(sunk.Parent) && maxDepth(t) <= topology.MaxDepth(len(t.Parent), 2)
	}); err != nil {
		return res, fmt.Errorf("the tree never came back within its bound: %w", err)
	}
	res.settle = time.Since(kill)
	for c, p := range settled.Parent {
		if sunk.Parent[c] != p {
			res.moves++
		}
	}
	return res, nil
}

// planSinking is a run of failures that takes tree past its bound, as the
// relays respond to each (topology.Reparent): greedily, the relay whose
// failure leaves the deepest tree. nil when 12 failures do not.
func planSinking(tree topology.Tree) []string {
	var plan []string
	for range 12 {
		best, deepest := "", -1
		for id := range tree.Parent {
			if d := maxDepth(reparented(tree, id)); d > deepest || d == deepest && id < best {
				best, deepest = id, d
			}
		}
		if best == "" {
			return nil
		}
		tree = reparented(tree, best)
		plan = append(plan, best)
		if maxDepth(tree) > topology.MaxDepth(len(tree.Parent), 2) {
			return plan
		}
	}
	return nil
}

// reparented is the tree after id's failure, as the relays compute it.
func reparented(t topology.Tree, id string) topology.Tree {
	members := []topology.Member{{ID: t.Origin}}
	for c := range t.Parent {
		if c != id {
			members = append(members, topology.Member{ID: c})
		}
	}
	moves, _ := topology.Reparent(t, members, id, 2)
	out := topology.Tree{Origin: t.Origin, Parent: map[string]string{}}
	for c, p := range t.Parent {
		if c != id {
			out.Parent[c] = p
		}
	}
	for c, p := range moves {
		out.Parent[c] = p
	}
	return out
}

// attached reports whether every relay of t hangs from the origin and none
// from gone.
func attached(t topology.Tree, gone string) bool {
	if _, stale := t.Parent[gone]; stale {
		return false
	}
	for c, p := range t.Parent {
		if p == gone || t.Depth(c) < 0 {
			return false
		}
	}
	return true
}

func maxDepth(t topology.Tree) int {
	d := 0
	for c := range t.Parent {
		d = max(d, t.Depth(c))
	}
	return d
}

// treeOf reads a stream's tree from a node's /api/topology, keeping the
// edges of live members only (a dead relay's edge stays in the directory
// until it expires).
func treeOf(base, stream string) topology.Tree {
	t := topology.Tree{Parent: map[string]string{}}
	res, err := http.Get(base + "/api/topology")
	if err != nil {
		return t
	}
	defer res.Body.Close()
	var topo struct {
		Nodes   []struct{ ID string }
		Streams []struct {
			Name, Origin string
			Edges        []struct{ Parent, Child string }
		}
	}
	if json.NewDecoder(res.Body).Decode(&topo) != nil {
		return t
	}
	alive := map[string]bool{}
	for _, n := range topo.Nodes {
		alive[n.ID] = true
	}
	for _, s := range topo.Streams {
		if s.Name != stream {
			continue
		}
		t.Origin = s.Origin
		for _, e := range s.Edges {
			if alive[e.Child] {
				t.Parent[e.Child] = e.Parent
			}
		}
	}
	return t
}
