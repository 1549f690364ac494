package main

import (
	"maps"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// Viewers land on the right node by themselves (WHEP's 307): an origin
// with room for one viewer and three relays for fifteen each
// (-max-viewers), one relay draining, one already carrying the stream. 29
// pion viewers all POST to the origin: each is redirected exactly once,
// its query (a token) kept, to a relay with room, the warm relay filled
// first, then the cold one; the draining relay gets none; every viewer
// plays. The 30th takes the origin's own place, with no redirect, and the
// 31st is told 503 with Retry-After: the cluster is full. Every node then
// shows the stream's 32 viewers, per node, in GET /api/streams.
func TestViewersAreRedirectedToRelaysWithRoom(t *testing.T) {
	o := start(t, originBin, "o", nodeprocOpts(true, "-whep-redirect", "-max-viewers", "1"))
	cluster := []string{"-nats", o.NATS, "-join", o.Gossip, "-drain-timeout", "1m", "-whep-redirect", "-max-viewers", "15"}
	r1 := start(t, relayBin, "r1", nodeprocOpts(false, cluster...))
	r2 := start(t, relayBin, "r2", nodeprocOpts(false, cluster...))
	r3 := start(t, relayBin, "r3", nodeprocOpts(false, cluster...))
	names := map[string]string{o.Base: "o", r1.Base: "r1", r2.Base: "r2", r3.Base: "r3"}
	waitFor(t, 10*time.Second, "four nodes in the cluster", func() bool { n, _ := tree(t, o.Base, "cam"); return n == 4 })
	publish(t, o.Base+"/whip/cam")
	// r2 is warm: it carries the stream for a viewer of its own (marked as
	// redirected already, so it is served where it is sent).
	first := watch(t, r2.Base+"/whep/cam?redirected=1")
	waitFor(t, 10*time.Second, "video at r2", func() bool { return first.Count() > 10 })
	// r3 drains with a viewer of its own, which keeps it up and draining
	// (it is warm too, and must get nobody).
	third := watch(t, r3.Base+"/whep/cam?redirected=1")
	waitFor(t, 10*time.Second, "video at r3", func() bool { return third.Count() > 10 })
	if err := r3.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "r2's viewer and r3's drain in the origin's gossip", func() bool {
		m := members(t, o.Base)
		return m["r2"].Viewers == 1 && m["r3"].Draining
	})

	byNode := map[string]int{}
	for i := range 30 {
		hc, hopsp := hopCounter()
		w, err := whipclient.Watch(t.Context(), o.Base+"/whep/cam?token=kept", whipclient.Options{HTTP: hc})
		hops := *hopsp
		if err != nil {
			t.Fatalf("viewer %d: %v", i, err)
		}
		t.Cleanup(w.Close)
		node := nodeOf(t, w.Session.Location, names)
		byNode[node]++
		want, redirects := "r2", 1
		switch {
		case i >= 29:
			want, redirects = "o", 0
		case i >= 14:
			want = "r1"
		}
		if node != want || len(hops) != redirects {
			t.Fatalf("viewer %d: on %s after %d redirects (so far %v); want %s after %d: the warm relay's room first, then the cold one's, then the origin's",
				i, node, len(hops), byNode, want, redirects)
		}
		if redirects == 1 && (hops[0].Query().Get("token") != "kept" || !hops[0].Query().Has("redirected")) {
			t.Fatalf("viewer %d was redirected to %s: the query is not kept or not marked", i, hops[0])
		}
		waitFor(t, 15*time.Second, "video at the viewer", func() bool { return w.Count() > 10 })
	}
	t.Logf("30 viewers posted to the origin: %v", byNode)
	_, err := whipclient.Watch(t.Context(), o.Base+"/whep/cam", whipclient.Options{})
	var se *whipclient.StatusError
	if !asStatus(err, &se) || se.Status != http.StatusServiceUnavailable {
		t.Fatalf("a viewer with every node full: %v, want 503", err)
	}
	// Any node tells the stream's viewers across the cluster, per node.
	want := map[string]int{"o": 1, "r1": 15, "r2": 15, "r3": 1}
	for _, base := range []string{r1.Base, o.Base} {
		waitFor(t, 10*time.Second, "every node's viewers in "+names[base]+"'s /api/streams", func() bool {
			total, byNode := streamViewers(t, base, "cam")
			return total == 32 && maps.Equal(byNode, want)
		})
	}
}

// streamViewers is GET /api/streams' cluster-wide viewers of stream.
func streamViewers(t *testing.T, base, stream string) (total int, byNode map[string]int) {
	t.Helper()
	var body struct {
		Streams []struct {
			Name           string
			ClusterViewers int            `json:"cluster_viewers"`
			ViewersByNode  map[string]int `json:"viewers_by_node"`
		}
	}
	getJSON(t, base+"/api/streams", &body)
	for _, s := range body.Streams {
		if s.Name == stream {
			return s.ClusterViewers, s.ViewersByNode
		}
	}
	return 0, nil
}

func asStatus(err error, se **whipclient.StatusError) bool {
	if e, ok := err.(*whipclient.StatusError); ok {
		*se = e
		return true
	}
	return false
}

type memberInfo struct {
	ID       string `json:"id"`
	Viewers  int    `json:"viewers"`
	Draining bool   `json:"draining"`
}

// members is GET /api/topology's nodes, by id.
func members(t *testing.T, base string) map[string]memberInfo {
	t.Helper()
	var body struct{ Nodes []memberInfo }
	getJSON(t, base+"/api/topology", &body)
	out := map[string]memberInfo{}
	for _, m := range body.Nodes {
		out[m.ID] = m
	}
	return out
}

// nodeOf names the node a session URL is on.
func nodeOf(t *testing.T, session string, bases map[string]string) string {
	t.Helper()
	u, err := url.Parse(session)
	if err != nil {
		t.Fatal(err)
	}
	for base, name := range bases {
		if strings.HasPrefix(base, u.Scheme+"://"+u.Host) {
			return name
		}
	}
	t.Fatalf("session %s is on no node of the test", session)
	return ""
}
