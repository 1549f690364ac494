package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

var originBin, relayBin string

// TestMain builds the real binaries once: these tests run them as an
// operator would, and kill them as a crash would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relaymesh-relay-test")
	if err != nil {
		panic(err)
	}
	if originBin, relayBin, err = nodeproc.Build("../..", dir); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// noRedirect keeps viewers where a test places them, to shape the trees
// it checks: WHEP redirects (on by default in a cluster) would move them to
// the relay that serves them best.
const noRedirect = "-whep-redirect=false"

func start(t *testing.T, bin, name string, o nodeproc.Options) *nodeproc.Proc {
	t.Helper()
	o.LogDir = t.TempDir()
	p, err := nodeproc.Start(t.Context(), bin, name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			log, _ := os.ReadFile(p.Log)
			t.Logf("%s's log:\n%s", p.Name, log)
		}
	})
	return p
}

// publish sends the test H.264 stream to url by WHIP until the test ends.
// smallAUs are the small test stream's H.264 access units, which a pion
// publisher plays with a keyframe a second.
func smallAUs(t *testing.T) [][]byte {
	t.Helper()
	h264, _, err := mediatest.Files(mediatest.Small)
	if err != nil {
		t.Fatal(err)
	}
	aus, err := whipclient.AccessUnits(h264)
	if err != nil {
		t.Fatal(err)
	}
	return aus
}

func publish(t *testing.T, url string) {
	t.Helper()
	p, err := whipclient.Publish(t.Context(), url, whipclient.Options{}, smallAUs(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
}

func watch(t *testing.T, url string) *whipclient.Watcher {
	t.Helper()
	w, err := whipclient.Watch(t.Context(), url, whipclient.Options{})
	if err != nil {
		t.Fatalf("watch %s: %v", url, err)
	}
	t.Cleanup(w.Close)
	return w
}

// getJSON decodes GET url's body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// hopCounter is an HTTP client that follows redirects and notes each URL
// it is sent to.
func hopCounter() (*http.Client, *[]*url.URL) {
	var hops []*url.URL
	return &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		hops = append(hops, req.URL)
		return nil
	}}, &hops
}

type topology struct {
	Nodes   []struct{ ID string }
	Streams []struct {
		Name  string
		Edges []struct{ Parent, Child string }
	}
}

// tree reads a stream's edges (child → parent) from a node's API.
func tree(t *testing.T, base, stream string) (nodes int, parent map[string]string) {
	t.Helper()
	var topo topology
	getJSON(t, base+"/api/topology", &topo)
	parent = map[string]string{}
	for _, s := range topo.Streams {
		for _, e := range s.Edges {
			if s.Name == stream {
				parent[e.Child] = e.Parent
			}
		}
	}
	return len(topo.Nodes), parent
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

// The real binaries on loopback: origin → r1 → r2 → r3 (fan-out 1, so the
// relays chain themselves). kill -9 of r1, the middle of the chain: r2 and
// r3's viewers stay on their sessions, see one gap, then a keyframe.
func TestKillMiddleRelayViewersPlayOn(t *testing.T) {
	origin := start(t, originBin, "origin", nodeproc.Options{ExposeNATS: true, Args: []string{"-max-children", "1", noRedirect}})
	var relays []*nodeproc.Proc
	for i := 1; i <= 3; i++ {
		relays = append(relays, start(t, relayBin, fmt.Sprintf("r%d", i), nodeproc.Options{
			Args: []string{"-nats", origin.NATS, "-join", origin.Gossip, "-max-children", "1", noRedirect}}))
	}
	waitFor(t, 10*time.Second, "four nodes in the cluster", func() bool { n, _ := tree(t, origin.Base, "kill"); return n == 4 })
	publish(t, origin.Base+"/whip/kill")
	var viewers []*whipclient.Watcher
	for _, r := range relays { // one after another: each joins below the last
		viewers = append(viewers, watch(t, r.Base+"/whep/kill"))
	}
	if _, p := tree(t, origin.Base, "kill"); fmt.Sprint(p) != "map[r1:origin r2:r1 r3:r2]" {
		t.Fatalf("tree %v, want a chain origin → r1 → r2 → r3", p)
	}
	for _, v := range viewers {
		waitFor(t, 10*time.Second, "video at every relay", func() bool { return v.Count() > 60 })
	}

	kill := time.Now()
	relays[0].Kill()
	for i, v := range viewers[1:] {
		var last, resumed, key time.Time
		waitFor(t, 10*time.Second, fmt.Sprintf("video and a keyframe again at r%d", i+2), func() bool {
			var ok bool
			last, resumed, key, ok = v.Outage(kill)
			return ok
		})
		t.Logf("r%d's viewer: gap %v (kill to media %v, kill to keyframe %v)", i+2,
			resumed.Sub(last).Round(time.Millisecond), resumed.Sub(kill).Round(time.Millisecond), key.Sub(kill).Round(time.Millisecond))
		if !v.Steady() {
			t.Fatalf("r%d's viewer had to reconnect or saw a new stream", i+2)
		}
		// The target is 2 s; the bound leaves room for a loaded CI machine.
		if gap := resumed.Sub(kill); gap > 5*time.Second {
			t.Fatalf("r%d's viewer: media back %v after the kill", i+2, gap)
		}
	}
	waitFor(t, 5*time.Second, "r2 under the origin", func() bool { _, p := tree(t, origin.Base, "kill"); return p["r2"] == "origin" && p["r3"] == "r2" })
}

// SIGTERM on the middle relay: it turns unready and announces the drain;
// its child moves to another parent first (its viewer plays on), then the
// process exits once its own viewer's time is up (-drain-timeout).
func TestSIGTERMMovesChildrenBeforeExit(t *testing.T) {
	origin := start(t, originBin, "origin", nodeproc.Options{ExposeNATS: true, Args: []string{"-max-children", "1", noRedirect}})
	cluster := []string{"-nats", origin.NATS, "-join", origin.Gossip, "-max-children", "1", noRedirect}
	r1 := start(t, relayBin, "r1", nodeproc.Options{Args: append([]string{"-drain-timeout", "3s"}, cluster...)})
	r2 := start(t, relayBin, "r2", nodeproc.Options{Args: cluster})
	waitFor(t, 10*time.Second, "three nodes in the cluster", func() bool { n, _ := tree(t, origin.Base, "drain"); return n == 3 })
	publish(t, origin.Base+"/whip/drain")
	watch(t, r1.Base+"/whep/drain")
	v := watch(t, r2.Base+"/whep/drain")
	if _, p := tree(t, origin.Base, "drain"); p["r2"] != "r1" {
		t.Fatalf("tree %v, want r2 below r1", p)
	}
	waitFor(t, 10*time.Second, "video at r2", func() bool { return v.Count() > 60 })

	term := time.Now()
	if err := r1.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "r2 under the origin", func() bool { _, p := tree(t, origin.Base, "drain"); return p["r2"] == "origin" })
	moved := time.Since(term)
	select {
	case <-r1.Done():
		t.Fatalf("r1 exited %v after SIGTERM, before its child had moved", time.Since(term))
	default:
	}
	before := v.Count()
	waitFor(t, 5*time.Second, "video at r2 after the move", func() bool { return v.Count() > before+60 })
	last, resumed, _, _ := v.Outage(term)
	t.Logf("r2 moved %v after SIGTERM; its viewer's longest gap since: %v", moved.Round(time.Millisecond), resumed.Sub(last).Round(time.Millisecond))
	if !v.Steady() || resumed.Sub(last) > 2*time.Second {
		t.Fatalf("r2's viewer: steady=%v, gap %v", v.Steady(), resumed.Sub(last))
	}
	select {
	case <-r1.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("r1 did not exit after -drain-timeout")
	}
}
