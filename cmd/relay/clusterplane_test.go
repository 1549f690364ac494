package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// newOrigins picks the addresses of clustered origins (nodeproc.Origins);
// start starts one of them.
type originSet struct{ *nodeproc.Origins }

func newOrigins(t *testing.T, names ...string) originSet {
	t.Helper()
	o, err := nodeproc.NewOrigins(names...)
	if err != nil {
		t.Fatal(err)
	}
	return originSet{o}
}

func (o originSet) start(t *testing.T, name string, extra ...string) *nodeproc.Proc {
	return start(t, originBin, name, o.Options(name, extra...))
}

// The control plane survives either of two origins: their embedded NATS
// servers form one cluster, with routes found through gossip, and the
// stream directory is what the nodes tell each other, so nothing of it
// lives on one origin alone. A relay knows only the first origin's NATS.
// kill -9 of that origin: the relay's viewer of a stream published on the
// other plays on with its session; a new publish on the other is answered
// and admitted at once; the relay, reconnected to the other's NATS server,
// serves a new viewer of it. Before, with the second origin on the first's
// embedded NATS, a publish hung until the client gave up and the relay's
// viewers were lost; with a JetStream directory, two origins could not
// survive either (a quorum of two is both), and three waited 4 to 9 s for
// JetStream's election.
func TestControlPlaneSurvivesAnOrigin(t *testing.T) {
	set := newOrigins(t, "a", "b")
	a := set.start(t, "a")
	b := set.start(t, "b")
	r1 := start(t, relayBin, "r1", nodeprocOpts(false, "-nats", a.NATS, "-join", set.Join()))
	waitFor(t, 10*time.Second, "three nodes in the cluster", func() bool { n, _ := tree(t, r1.Base, "kept"); return n == 3 })
	aus := smallAUs(t)
	pub, err := whipclient.Publish(t.Context(), b.Base+"/whip/kept", whipclient.Options{}, aus, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// The origins' NATS servers connect once gossip has shown them each
	// other: until then a's side of the control plane has not heard b's.
	waitFor(t, 10*time.Second, "the relay to hear of b's stream", func() bool { return publishersOf(t, r1.Base, "kept") == "b:0:live" })
	v := watch(t, r1.Base+"/whep/kept")
	waitFor(t, 10*time.Second, "video at the relay", func() bool { return v.Count() > 30 })

	a.Kill()
	kill := time.Now()
	// A new publish on b: admitted at first asking, within the request's
	// bound, with no election to wait for.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	asked := time.Now()
	p2, err := whipclient.Publish(ctx, b.Base+"/whip/fresh", whipclient.Options{}, aus, nil)
	if err != nil {
		t.Fatalf("a publish on b right after a's kill: %v", err)
	}
	defer p2.Close()
	t.Logf("kill -9 of a: a publish on b admitted %v after the kill, answered in %v", time.Since(kill).Round(time.Millisecond), time.Since(asked).Round(time.Millisecond))
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
