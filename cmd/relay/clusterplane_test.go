package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// The control plane survives an origin: three origins whose embedded NATS
// servers form one cluster (-nats-cluster, -nats-routes) with the stream
// directory replicated on all three, and a relay that knows only the first
// origin's NATS and gossip. kill -9 of that origin: the relay's viewer of
// a stream published on another origin plays on with its session; a new
// publish on the third origin is answered at once and not refused; the
// relay, reconnected to another NATS server of the cluster, serves a new
// viewer of it. Before, with the others on the first origin's embedded
// NATS, a publish hung until the client gave up and the relay's viewers
// were lost.
func TestControlPlaneSurvivesAnOrigin(t *testing.T) {
	var routes []string
	for range 3 {
		routes = append(routes, fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)))
	}
	// a's gossip address is fixed here so that b and c, started with it,
	// can join it (a later -gossip wins over the one nodeproc picks).
	gossipA := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	origins := make([]*nodeproc.Proc, 3)
	var wg sync.WaitGroup
	for i, name := range []string{"a", "b", "c"} {
		args := []string{"-nats-cluster", routes[i], "-nats-routes", strings.Join(routes, ",")}
		if i == 0 {
			args = append(args, "-gossip", gossipA)
		} else {
			args = append(args, "-join", gossipA)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each is ready once a quorum of the three runs: they start
			// together.
			p, err := nodeproc.Start(t.Context(), originBin, name, nodeproc.Options{ExposeNATS: true, Args: args, LogDir: t.TempDir()})
			if err != nil {
				t.Error(err)
				return
			}
			origins[i] = p
		}()
	}
	wg.Wait()
	for _, p := range origins {
		if p != nil {
			t.Cleanup(func() {
				p.Kill()
				if t.Failed() {
					log, _ := os.ReadFile(p.Log)
					t.Logf("%s's log:\n%s", p.Name, log)
				}
			})
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	a, b, c := origins[0], origins[1], origins[2]
	r1 := start(t, relayBin, "r1", nodeprocOpts(false, "-nats", a.NATS, "-join", gossipA))
	waitFor(t, 10*time.Second, "four nodes in the cluster", func() bool { n, _ := tree(t, r1.Base, "kept"); return n == 4 })
	h264, _, err := mediatest.Files(mediatest.Small)
	if err != nil {
		t.Fatal(err)
	}
	aus, _ := whipclient.AccessUnits(h264)
	pub, err := whipclient.Publish(t.Context(), b.Base+"/whip/kept", whipclient.Options{}, aus, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	v := watch(t, r1.Base+"/whep/kept")
	waitFor(t, 10*time.Second, "video at the relay", func() bool { return v.Count() > 30 })

	a.Kill()
	kill := time.Now()
	// A new publish on c: answered within the request's bound (no hang),
	// and admitted once the directory's copies have a leader again: at
	// once, or when a led them, after JetStream's Raft election (its
	// timeouts are 4 to 9 s, nats-server's constants).
	var p2 *whipclient.Publisher
	waitFor(t, 30*time.Second, "a publish on c to be admitted", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		asked := time.Now()
		p, err := whipclient.Publish(ctx, c.Base+"/whip/fresh", whipclient.Options{}, aus, nil)
		if took := time.Since(asked); took > 4*time.Second {
			t.Fatalf("a publish on c took %v to be answered (%v): a request hung on the control plane", took, err)
		}
		if err != nil {
			return false
		}
		p2 = p
		return true
	})
	defer p2.Close()
	t.Logf("kill -9 of a: a publish on c admitted %v after the kill", time.Since(kill).Round(time.Millisecond))
	// The relay's NATS connection moves to another server of the cluster
	// (the servers advertise each other to clients); meanwhile a viewer is
	// told 503 with Retry-After, and a player retries.
	var v2 *whipclient.Watcher
	waitFor(t, 30*time.Second, "a viewer of the new stream at the relay", func() bool {
		w, err := whipclient.Watch(t.Context(), r1.Base+"/whep/fresh", whipclient.Options{})
		if err != nil {
			if !strings.Contains(err.Error(), "503") {
				t.Fatalf("a viewer at the relay: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
			return false
		}
		v2 = w
		return true
	})
	defer v2.Close()
	waitFor(t, 15*time.Second, "video of the new stream at the relay", func() bool { return v2.Count() > 30 })
	t.Logf("the relay serves the new stream %v after the kill", time.Since(kill).Round(time.Millisecond))
	if !v.Steady() || v.LargestGap(kill) > 500*time.Millisecond {
		t.Fatalf("the relay's viewer of b's stream: steady %v, largest gap %v", v.Steady(), v.LargestGap(kill))
	}
	res, err := http.Get(r1.Base + "/readyz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the relay is not ready after a's death: %v %v", err, res)
	}
	res.Body.Close()
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
