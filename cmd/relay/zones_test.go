package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// Viewers are sent to a relay of their own zone (-zone-map), the zone
// found from the address a trusted proxy forwarded (-trusted-proxies):
// here every viewer comes through a "proxy" at 127.0.0.1 that says who it
// is with X-Forwarded-For. A viewer from the EU prefix goes to the EU
// relay though the US relay is warm; one from the US prefix goes to the US
// relay; one from no zone goes to the warm relay (the US one). The untrusted case (the
// header ignored) is clientaddr's table test.
func TestViewersAreRedirectedToTheirZone(t *testing.T) {
	zones := filepath.Join(t.TempDir(), "zones.yaml")
	if err := os.WriteFile(zones, []byte("eu: [10.1.0.0/16]\nus: [10.2.0.0/16, 2001:db8:2::/48]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := start(t, originBin, "o", nodeprocOpts(true, "-whep-redirect", "-max-viewers", "1", "-zone-map", zones, "-trusted-proxies", "127.0.0.1/32"))
	cluster := []string{"-nats", o.NATS, "-join", o.Gossip, "-whep-redirect"}
	eu := start(t, relayBin, "eu", nodeprocOpts(false, append(cluster, "-zone", "eu")...))
	us := start(t, relayBin, "us", nodeprocOpts(false, append(cluster, "-zone", "us")...))
	names := map[string]string{o.Base: "o", eu.Base: "eu", us.Base: "us"}
	waitFor(t, 10*time.Second, "three nodes in the cluster", func() bool { n, _ := tree(t, o.Base, "cam"); return n == 3 })
	publish(t, o.Base+"/whip/cam")
	warm := watch(t, us.Base+"/whep/cam?redirected=1")
	waitFor(t, 10*time.Second, "video at the US relay", func() bool { return warm.Count() > 10 })
	waitFor(t, 10*time.Second, "the US relay's edge in the directory", func() bool {
		_, edges := tree(t, o.Base, "cam")
		return len(edges) == 1
	})

	for _, c := range []struct{ client, want string }{
		{"203.0.113.9", "us"}, // no zone: the warm relay
		{"10.1.7.7", "eu"},    // the cold relay of its zone before the warm one elsewhere
		{"2001:db8:2::9", "us"},
		{"10.2.0.5", "us"},
	} {
		hc, hops := hopCounter()
		w, err := whipclient.Watch(t.Context(), o.Base+"/whep/cam", whipclient.Options{HTTP: hc,
			Header: http.Header{"X-Forwarded-For": {c.client}}})
		if err != nil {
			t.Fatalf("viewer at %s: %v", c.client, err)
		}
		t.Cleanup(w.Close)
		if node := nodeOf(t, w.Session.Location, names); node != c.want || len(*hops) != 1 {
			t.Fatalf("viewer at %s is on %s after %d redirects, want %s after 1", c.client, node, len(*hops), c.want)
		}
		waitFor(t, 15*time.Second, "video at the viewer at "+c.client, func() bool { return w.Count() > 10 })
	}
}
