package node

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/ingest/upstream"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// startCluster runs an origin and relays r1..rN that find each other by
// gossip, share the origin's NATS and choose their parents themselves with
// fan-out k. It returns once every node sees every other. Viewers are not
// redirected (-whep-redirect=false): the tests place them on chosen nodes
// to shape the trees they check.
func startCluster(t *testing.T, relays, k int) (origin *Node, base string, nodes []*Node, bases []string) {
	t.Helper()
	kids := fmt.Sprint(k)
	origin, base = startNode(t, "-node-id", "origin", "-nats-listen", "127.0.0.1:0", "-max-children", kids, "-whep-redirect=false")
	for i := 1; i <= relays; i++ {
		n, b := startRelay(t, origin.NATSURL(), "-node-id", fmt.Sprintf("r%d", i), "-join", origin.cluster.Addr(), "-max-children", kids, "-whep-redirect=false")
		nodes, bases = append(nodes, n), append(bases, b)
	}
	waitUntil(t, 10*time.Second, "every node in every node's membership", func() bool {
		for _, n := range append([]*Node{origin}, nodes...) {
			if len(n.cluster.Members()) != relays+1 {
				return false
			}
		}
		return true
	})
	return origin, base, nodes, bases
}

// parents is the stream's tree as the directory has it: child → parent.
func parents(t *testing.T, n *Node, stream string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range n.Topology(t.Context()).Streams {
		if s.Name == stream {
			for _, e := range s.Edges {
				out[e.Child] = e.Parent
			}
		}
	}
	return out
}

// Four relays asked for a stream one after another, with fan-out 2, build
// origin → {r1, r2}, r1 → r3, r2 → r4 by themselves: the upper level fills
// first, the second level spreads over the lighter parents; viewers at
// depth 2 get the publisher's payloads byte for byte.
func TestRelaysBuildTheTreeThemselves(t *testing.T) {
	video, audio := testMedia(t)
	origin, base, _, bases := startCluster(t, 4, 2)
	hc := newHTTPClient(t)
	pub, ref := publishAndWatch(t, hc, base, base, "auto")
	viewers := []*viewer{ref}
	for i, b := range bases {
		v, err := watch(t, hc, b, "auto")
		if err != nil {
			t.Fatalf("viewer at r%d: %v", i+1, err)
		}
		viewers = append(viewers, v)
	}
	tree := parents(t, origin, "auto")
	want := map[string]string{"r1": "origin", "r2": "origin", "r3": "r1", "r4": "r2"}
	if fmt.Sprint(tree) != fmt.Sprint(want) {
		t.Fatalf("tree %v, want %v", tree, want)
	}
	pub.warmUp(t, video, audio, viewers...)
	marks := make([]map[uint16]bool, len(viewers))
	for i, v := range viewers {
		marks[i] = v.seqSet("video")
	}
	pub.send(t, video, audio, 45)
	for i, v := range viewers[1:] {
		waitUntil(t, 10*time.Second, "frames at every relay", func() bool { return v.framesSince(marks[i+1]) >= 45 })
		checkSame(t, fmt.Sprintf("r%d", i+1), ref, v, 60)
	}
	// Gossip tells every node where viewers sit: one on each relay, the
	// relay children not counted.
	waitUntil(t, 10*time.Second, "one viewer per relay in the origin's membership", func() bool {
		for _, m := range origin.cluster.Members() {
			if m.Role == "relay" && m.Viewers != 1 {
				return false
			}
		}
		return true
	})
}

// A parent at its fan-out refuses one more relay child with 503, whatever
// the child's snapshot said; a relay never feeds one of its ancestors.
func TestParentHoldsFanOutAndRefusesLoops(t *testing.T) {
	origin, base, nodes, bases := startCluster(t, 2, 1)
	hc := newHTTPClient(t)
	_, _ = publishAndWatch(t, hc, base, bases[0], "fan1") // r1 → origin
	asChild := whipclient.Options{Header: http.Header{upstream.NodeHeader: {nodes[1].cfg.NodeID}}}
	if _, err := watchWith(t, hc, base, "fan1", asChild); err == nil {
		t.Fatal("the origin took a second relay child with -max-children 1")
	} else if want := "already feeds 1 relays"; !strings.Contains(err.Error(), want) {
		t.Fatalf("refusal %q does not say %q", err, want)
	}
	if err := nodes[0].relay.CheckChild(t.Context(), "fan1", "origin"); err == nil {
		t.Fatal("r1 would feed its own parent")
	}
	if err := nodes[0].relay.CheckChild(t.Context(), "fan1", "r2"); err != nil {
		t.Fatalf("r2 is not above r1: %v", err)
	}
	if got := origin.kids.Count("fan1"); got != 1 {
		t.Fatalf("the origin counts %d relay children, want 1", got)
	}
}

// A draining relay's children move to another parent before it goes, made
// before the old link is broken: their viewers keep the same session and
// SSRC, lose no packet and see no gap beyond the frame interval's (the
// new parent's media switches in at its keyframe). Breaking first cost a
// gap of 72-122 ms here and the frames sent meanwhile.
func TestDrainMovesChildrenFirst(t *testing.T) {
	video, _ := testMedia(t)
	_, base, nodes, bases := startCluster(t, 2, 1)
	hc := newHTTPClient(t)
	pub, v1 := publishAndWatch(t, hc, base, bases[0], "drain") // r1 → origin
	playVideo(t, pub.video, video, -1)
	v2, err := watch(t, hc, bases[1], "drain") // r2 → r1: the origin is full
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "frames at r2", func() bool { return markers(v2.packets("video")) >= 10 })
	if p := parents(t, nodes[0], "drain")["r2"]; p != "r1" {
		t.Fatalf("r2's parent is %q, want r1", p)
	}
	tracks := v2.ontrack.Load()
	before := len(v2.packets("video"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	drained := make(chan struct{})
	start := time.Now()
	go func() { defer close(drained); nodes[0].Drain(ctx) }()
	waitUntil(t, 5*time.Second, "r2 under the origin", func() bool { return parents(t, nodes[1], "drain")["r2"] == "origin" })
	waitUntil(t, 5*time.Second, "frames at r2 after the move", func() bool { return len(v2.packets("video")) > before+150 })
	ps := v2.packets("video")
	var calm time.Duration // the largest gap before, for the log
	for i := max(before-150, 1); i < before; i++ {
		calm = max(calm, ps[i].at.Sub(ps[i-1].at))
	}
	var gap time.Duration
	got := map[uint64]bool{}
	for i := before; i < len(ps); i++ {
		gap = max(gap, ps[i].at.Sub(ps[i-1].at))
		if ps[i].ssrc != ps[0].ssrc {
			t.Fatal("r2's viewer saw a new SSRC")
		}
		got[ps[i].sum] = true
	}
	// r1's own viewer is not moved: what it got while r2 moved, r2's
	// viewer must have got too.
	lost, sent := 0, 0
	for _, p := range v1.packets("video") {
		if p.at.After(start) && p.at.Before(ps[len(ps)-1].at.Add(-300*time.Millisecond)) {
			sent++
			if !got[p.sum] {
				lost++
			}
		}
	}
	t.Logf("r2's viewer while r1 drained: largest gap %v (%v before), %d of %d packets lost", gap.Round(time.Millisecond), calm.Round(time.Millisecond), lost, sent)
	if lost > 0 || sent < 20 {
		t.Fatalf("r2's viewer lost %d of the %d packets sent while it moved: the move broke before it made", lost, sent)
	}
	if gap > 250*time.Millisecond || v2.ontrack.Load() != tracks || v2.sess.PC.ConnectionState() != webrtc.PeerConnectionStateConnected {
		t.Fatalf("gap %v, tracks %d→%d, state %s: r2's viewer should have played on", gap, tracks, v2.ontrack.Load(), v2.sess.PC.ConnectionState())
	}
	// r1 still has its own viewer, which drain waits for; once it leaves,
	// drain is over.
	_ = v1.sess.Delete(t.Context())
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("drain did not end after r1's last session left")
	}
}

// A relay started with -pin carries the stream once it is published, with
// no viewer asking, and keeps it with none.
func TestPinnedRelayCarriesTheStream(t *testing.T) {
	origin, base := startNode(t, "-node-id", "origin", "-nats-listen", "127.0.0.1:0")
	relay, _ := startRelay(t, origin.NATSURL(), "-node-id", "warm", "-join", origin.cluster.Addr(), "-pin", "pinned", "-idle-timeout", "1s")
	hc := newHTTPClient(t)
	if _, err := publish(t, hc, base, "pinned", whipclient.Options{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the pinned stream on the relay", func() bool { _, ok := relay.Registry().Get("pinned"); return ok })
	time.Sleep(2500 * time.Millisecond) // past -idle-timeout
	if _, ok := relay.Registry().Get("pinned"); !ok || parents(t, origin, "pinned")["warm"] != "origin" {
		t.Fatal("the relay left a pinned stream that nobody watched")
	}
}
