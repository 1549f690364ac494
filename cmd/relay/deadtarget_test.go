package main

import (
	"errors"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// A relay dies (kill -9) between the origin's choice and the viewer's
// POST: the viewer, redirected to it, cannot connect, and retries the URL
// it started from, as WHEP players do; it lands on the other relay and
// plays (the origin counts the redirect it made to the dead relay as a
// viewer there, so the retry goes elsewhere at once). Once gossip has
// found the relay gone, nobody is sent there.
func TestARedirectToADeadRelayIsRetriedElsewhere(t *testing.T) {
	o := start(t, originBin, "o", nodeprocOpts(true, "-whep-redirect", "-max-viewers", "1"))
	cluster := []string{"-nats", o.NATS, "-join", o.Gossip, "-whep-redirect"}
	r1 := start(t, relayBin, "r1", nodeprocOpts(false, cluster...))
	r2 := start(t, relayBin, "r2", nodeprocOpts(false, cluster...))
	names := map[string]string{o.Base: "o", r1.Base: "r1", r2.Base: "r2"}
	waitFor(t, 10*time.Second, "three nodes in the cluster", func() bool { n, _ := tree(t, o.Base, "cam"); return n == 3 })
	publish(t, o.Base+"/whip/cam")
	// Both relays are cold and empty: r1 comes first by id.
	r1.Kill()
	killed := time.Now()

	var toDead int
	for attempt := 0; ; attempt++ {
		hc, hops := hopCounter()
		w, err := whipclient.Watch(t.Context(), o.Base+"/whep/cam", whipclient.Options{HTTP: hc})
		if err == nil {
			t.Cleanup(w.Close)
			if node := nodeOf(t, w.Session.Location, names); node != "r2" {
				t.Fatalf("the viewer landed on %s, want r2, the relay alive", node)
			}
			waitFor(t, 15*time.Second, "video at the viewer", func() bool { return w.Count() > 10 })
			t.Logf("the viewer was sent to the dead relay %d times; it plays on r2 %v after the kill", toDead, time.Since(killed).Round(time.Millisecond))
			break
		}
		var se *whipclient.StatusError
		if errors.As(err, &se) || len(*hops) != 1 || nodeOf(t, (*hops)[0].String(), names) != "r1" {
			t.Fatalf("attempt %d: %v after redirects %v; want only a failed connection to the dead relay", attempt, err, *hops)
		}
		toDead++
		if time.Since(killed) > 15*time.Second {
			t.Fatalf("15 s after r1 died the origin still sends viewers there (%d times)", toDead)
		}
		time.Sleep(250 * time.Millisecond) // a player's retry
	}
	if toDead == 0 {
		t.Fatal("no viewer was sent to the dead relay: the test did not test the retry (gossip found it dead before the first POST)")
	}
	waitFor(t, 15*time.Second, "the origin's gossip to find r1 gone", func() bool { _, alive := members(t, o.Base)["r1"]; return !alive })
	for i := range 3 {
		w, err := whipclient.Watch(t.Context(), o.Base+"/whep/cam", whipclient.Options{})
		if err != nil {
			t.Fatalf("viewer %d after r1 was found gone: %v", i, err)
		}
		t.Cleanup(w.Close)
		if node := nodeOf(t, w.Session.Location, names); node != "r2" {
			t.Fatalf("viewer %d after r1 was found gone is on %s, want r2", i, node)
		}
	}
}
