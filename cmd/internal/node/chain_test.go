package node

import (
	"fmt"
	"testing"
	"time"
)

// checkSame asserts that v got the same video payloads under the same
// sequence numbers as ref (the origin's own viewer), and enough of them.
func checkSame(t *testing.T, name string, ref, v *viewer, min int) {
	t.Helper()
	sums := map[uint16]uint64{}
	for _, p := range ref.packets("video") {
		sums[p.seq] = p.sum
	}
	n := 0
	for _, p := range v.packets("video") {
		if want, ok := sums[p.seq]; !ok || want != p.sum {
			t.Fatalf("%s: payload of seq %d is not the publisher's", name, p.seq)
		}
		n++
	}
	if n < min {
		t.Fatalf("%s: %d packets compared, want at least %d", name, n, min)
	}
	if seqs, inOrder := uniqueSeqs(v.packets("video")); !contiguous(seqs) || !inOrder {
		t.Fatalf("%s: packets missing or out of order", name)
	}
}

// A chain origin → r1 → r2 → r3 of relays with static upstreams: a viewer
// at every depth gets the publisher's payloads byte for byte, and keyframe
// requests stay coalesced at every hop.
func TestChainOfRelaysDeliversIdenticalPayloads(t *testing.T) {
	video, audio := testMedia(t)
	// Viewers are placed on chosen nodes: no redirects.
	origin, base := startNode(t, "-node-id", "origin", "-nats-listen", "127.0.0.1:0", "-whep-redirect=false")
	bases := []string{base}
	for i := 1; i <= 3; i++ {
		_, b := startAs(t, RoleRelay, "-node-id", fmt.Sprintf("r%d", i), "-upstream", bases[i-1],
			"-nats", origin.NATSURL(), "-join", origin.cluster.Addr(), "-whep-redirect=false")
		bases = append(bases, b)
	}
	hc := newHTTPClient(t)
	pub, ref := publishAndWatch(t, hc, base, base, "chain")
	viewers := make([]*viewer, 4)
	viewers[0] = ref
	for depth := 3; depth >= 1; depth-- { // the deepest first: a cold chain
		start := time.Now()
		v, err := watch(t, hc, bases[depth], "chain")
		if err != nil {
			t.Fatalf("viewer at depth %d: %v", depth, err)
		}
		t.Logf("viewer at depth %d connected in %v", depth, time.Since(start).Round(time.Millisecond))
		viewers[depth] = v
	}
	pub.warmUp(t, video, audio, viewers...)
	marks := make([]map[uint16]bool, len(viewers))
	for i, v := range viewers {
		marks[i] = v.seqSet("video")
	}
	pub.send(t, video, audio, 60)
	for depth, v := range viewers {
		waitUntil(t, 10*time.Second, fmt.Sprintf("60 frames at depth %d", depth), func() bool { return v.framesSince(marks[depth]) >= 60 })
		checkSame(t, fmt.Sprintf("depth %d", depth), ref, v, 100)
	}
	// Latency the hops add, as the viewers saw it (one clock for all).
	arrival := func(v *viewer) map[uint16]time.Time {
		m := map[uint16]time.Time{}
		for _, p := range v.packets("video") {
			m[p.seq] = p.at
		}
		return m
	}
	at0 := arrival(ref)
	for depth := 1; depth <= 3; depth++ {
		var worst time.Duration
		for seq, at := range arrival(viewers[depth]) {
			if d := at.Sub(at0[seq]); d > worst {
				worst = d
			}
		}
		t.Logf("depth %d: worst extra latency over the origin's viewer %v", depth, worst.Round(time.Microsecond))
	}
	hc2 := newHTTPClient(t)
	if kf := metricSum(t, hc2, base, "relaymesh_keyframe_requests_upstream_total"); kf > 10 {
		t.Fatalf("%v keyframe requests reached the publisher: not coalesced across hops", kf)
	}
	// The static parents are cluster members: the tree names them by id.
	topo := origin.Topology(t.Context())
	want := map[TreeEdge]bool{{"origin", "r1"}: true, {"r1", "r2"}: true, {"r2", "r3"}: true}
	if len(topo.Streams) != 1 || len(topo.Streams[0].Edges) != 3 {
		t.Fatalf("topology %+v", topo.Streams)
	}
	for _, e := range topo.Streams[0].Edges {
		if !want[e] {
			t.Fatalf("unexpected edge %+v in %+v", e, topo.Streams[0].Edges)
		}
	}
}

// A fan: three relays on one origin, each with a viewer.
func TestFanOfRelays(t *testing.T) {
	video, audio := testMedia(t)
	origin, base := startNode(t, "-node-id", "origin")
	hc := newHTTPClient(t)
	pub, ref := publishAndWatch(t, hc, base, base, "fan")
	var leaves []*viewer
	for i := 1; i <= 3; i++ {
		_, b := startAs(t, RoleRelay, "-node-id", fmt.Sprintf("f%d", i), "-upstream", base)
		v, err := watch(t, hc, b, "fan")
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, v)
	}
	pub.warmUp(t, video, audio, leaves...)
	marks := make([]map[uint16]bool, len(leaves))
	for i, v := range leaves {
		marks[i] = v.seqSet("video")
	}
	pub.send(t, video, audio, 45)
	for i, v := range leaves {
		waitUntil(t, 10*time.Second, "frames at a leaf", func() bool { return v.framesSince(marks[i]) >= 45 })
		checkSame(t, fmt.Sprintf("relay %d", i+1), ref, v, 60)
	}
	if n := origin.whepEP.Sessions(); n != 4 {
		t.Fatalf("origin serves %d sessions, want 4 (1 viewer + 3 relays)", n)
	}
}
