package main

import (
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// kill -9 of the origin a stream is published on, with no backup: the
// publisher republishes on another origin at once (the name is free as
// soon as gossip declares the dead one gone), and a relay's viewer keeps
// its session and one SSRC, sees one gap, then media from the new root.
// The control plane is the two origins' (clustered, routes by gossip),
// and the relay is on a's NATS. Measured before the name takeover: 8.6 to
// 9.0 s of gap, the republish refused with 409 for 7.3 to 7.9 s.
func TestOriginDiesRelayViewerPlaysOnFromTheNewRoot(t *testing.T) {
	set := newOrigins(t, "a", "b")
	a := set.start(t, "a")
	b := set.start(t, "b")
	r1 := start(t, relayBin, "r1", nodeproc.Options{Args: []string{"-nats", a.NATS, "-join", set.Join()}})
	waitFor(t, 10*time.Second, "three nodes in the cluster", func() bool { n, _ := tree(t, r1.Base, "moving"); return n == 3 })
	aus := smallAUs(t)
	first, err := whipclient.Publish(t.Context(), a.Base+"/whip/moving", whipclient.Options{}, aus, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	v := watch(t, r1.Base+"/whep/moving")
	waitFor(t, 10*time.Second, "video at the relay", func() bool { return v.Count() > 60 })

	a.Kill()
	kill := time.Now()
	p, republished, err := whipclient.PublishWhenFree(t.Context(), b.Base+"/whip/moving", whipclient.Options{}, aus, nil, 100*time.Millisecond, 15*time.Second)
	if err != nil {
		t.Fatalf("republishing on b %v after the kill: %v", republished, err)
	}
	t.Cleanup(p.Close)
	var last, resumed, key time.Time
	waitFor(t, 15*time.Second, "video and a keyframe again at the relay", func() bool {
		var ok bool
		last, resumed, key, ok = v.Outage(kill)
		return ok && resumed.After(kill.Add(republished))
	})
	t.Logf("kill -9 of a: republished on b after %v; the relay's viewer: gap %v, kill to media %v, kill to keyframe %v",
		republished.Round(time.Millisecond), resumed.Sub(last).Round(time.Millisecond), resumed.Sub(kill).Round(time.Millisecond), key.Sub(kill).Round(time.Millisecond))
	if !v.Steady() {
		t.Fatal("the relay's viewer had to reconnect or saw a new stream")
	}
	// 8.6 to 9.0 s before; the aim is under 1 s. The bound leaves room for
	// a loaded CI machine and still fails without the takeover.
	if gap := resumed.Sub(kill); gap > 6*time.Second {
		t.Fatalf("the relay's viewer: media back %v after the kill", gap)
	}
}
