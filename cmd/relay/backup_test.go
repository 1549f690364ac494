package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// Backup publishers with the real binaries: a primary (?priority=1) on
// origin a, a backup (priority 0) on origin b, viewers on relay r1 (under
// the root) and r2 (under r1: fan-out 1). The control plane is the
// origins' own: their embedded NATS servers clustered, routes found by
// gossip, and the relays on a's NATS, so a's death takes a server of it.
//
// kill -9 of a: b's backup goes live, the root moves to b, and both
// viewers keep their session and SSRC through one gap. Then the primary
// returns on a restarted a: the stream switches back, made before it
// breaks, with no gap beyond a frame's at the viewers.
func TestBackupPublisherTakesOverAndThePrimarySwitchesBack(t *testing.T) {
	set := newOrigins(t, "a", "b")
	a := set.start(t, "a", "-max-children", "1", noRedirect)
	b := set.start(t, "b", "-max-children", "1", noRedirect)
	relays := []string{"-nats", a.NATS, "-join", set.Join(), "-max-children", "1", noRedirect}
	r1 := start(t, relayBin, "r1", nodeprocOpts(false, relays...))
	r2 := start(t, relayBin, "r2", nodeprocOpts(false, relays...))
	waitFor(t, 10*time.Second, "four nodes in the cluster", func() bool { n, _ := tree(t, r1.Base, "main"); return n == 4 })
	aus := smallAUs(t)
	primary, err := whipclient.Publish(t.Context(), a.Base+"/whip/main?priority=1", whipclient.Options{}, aus, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	// b's claim decisions need a's claim: the origins' NATS servers
	// connect once gossip has shown them each other.
	waitFor(t, 10*time.Second, "b to hear of a's stream", func() bool { return publishersOf(t, b.Base, "main") == "a:1:live" })
	backup, err := whipclient.Publish(t.Context(), b.Base+"/whip/main", whipclient.Options{}, aus, nil)
	if err != nil {
		t.Fatalf("a backup publisher (priority 0 under 1) was refused: %v", err)
	}
	defer backup.Close()
	if _, err := whipclient.Publish(t.Context(), b.Base+"/whip/main?priority=1", whipclient.Options{}, aus, nil); err == nil {
		t.Fatal("a second publisher at the live one's priority was taken")
	}
	v1 := watch(t, r1.Base+"/whep/main")
	waitFor(t, 10*time.Second, "video at r1", func() bool { return v1.Count() > 30 })
	v2 := watch(t, r2.Base+"/whep/main")
	waitFor(t, 10*time.Second, "video at r2", func() bool { return v2.Count() > 30 })
	if _, parent := tree(t, r1.Base, "main"); parent["r1"] != "a" || parent["r2"] != "r1" {
		t.Fatalf("tree %v, want r1 under a and r2 under r1", parent)
	}
	if got := publishersOf(t, r2.Base, "main"); got != "a:1:live b:0" {
		t.Fatalf("GET /api/streams shows the publishers as %q, want a live at 1 and b at 0", got)
	}

	a.Kill()
	kill := time.Now()
	for _, v := range []struct {
		name string
		w    *whipclient.Watcher
	}{{"r1", v1}, {"r2", v2}} {
		var last, resumed, key time.Time
		waitFor(t, 15*time.Second, "video and a keyframe again at "+v.name, func() bool {
			var ok bool
			last, resumed, key, ok = v.w.Outage(kill)
			return ok
		})
		t.Logf("kill -9 of a; %s's viewer: gap %v, kill to media %v, kill to keyframe %v", v.name,
			resumed.Sub(last).Round(time.Millisecond), resumed.Sub(kill).Round(time.Millisecond), key.Sub(kill).Round(time.Millisecond))
		if !v.w.Steady() {
			t.Fatalf("%s's viewer had to reconnect or saw a new SSRC", v.name)
		}
		// The aim is under 1 s; without the backup the name stays held
		// and nothing plays until the claim expires (10 s).
		if gap := resumed.Sub(kill); gap > 5*time.Second {
			t.Fatalf("%s's viewer: media back %v after the kill", v.name, gap)
		}
	}
	if _, parent := tree(t, r1.Base, "main"); parent["r1"] != "b" {
		t.Fatalf("tree %v after the kill, want r1 under b", parent)
	}
	waitFor(t, 5*time.Second, "the dead origin's publisher to go from the API", func() bool { return publishersOf(t, r2.Base, "main") == "b:0:live" })

	// The primary returns on a restarted a and takes the stream back.
	a2 := set.start(t, "a", "-max-children", "1", noRedirect)
	back := time.Now()
	p2, _, err := whipclient.PublishWhenFree(t.Context(), a2.Base+"/whip/main?priority=1", whipclient.Options{}, aus, nil, 100*time.Millisecond, 10*time.Second)
	if err != nil {
		t.Fatalf("the primary could not publish again: %v", err)
	}
	defer p2.Close()
	waitFor(t, 15*time.Second, "r1 under a again", func() bool { _, parent := tree(t, r1.Base, "main"); return parent["r1"] == "a" })
	settled := time.Now()
	waitFor(t, 5*time.Second, "more video at r2", func() bool { return lastArrival(v2).After(settled.Add(time.Second)) })
	for _, v := range []struct {
		name string
		w    *whipclient.Watcher
	}{{"r1", v1}, {"r2", v2}} {
		gap := v.w.LargestGap(back)
		t.Logf("switch back to the primary; %s's viewer: largest gap %v", v.name, gap.Round(time.Millisecond))
		if !v.w.Steady() || gap > 400*time.Millisecond {
			t.Fatalf("%s's viewer: steady %v, largest gap %v while the stream switched back", v.name, v.w.Steady(), gap)
		}
	}
}

func lastArrival(w *whipclient.Watcher) time.Time {
	ps := w.Video()
	if len(ps) == 0 {
		return time.Time{}
	}
	return ps[len(ps)-1].At
}

func nodeprocOpts(nats bool, args ...string) nodeproc.Options {
	return nodeproc.Options{ExposeNATS: nats, Args: args}
}

// publishersOf reads a stream's publishers from GET /api/streams as
// "origin:priority[:live] ...".
func publishersOf(t *testing.T, base, stream string) string {
	t.Helper()
	var body struct {
		Streams []struct {
			Name       string
			Publishers []struct {
				Origin   string
				Priority int
				Live     bool
			}
		}
	}
	getJSON(t, base+"/api/streams", &body)
	var out []string
	for _, s := range body.Streams {
		if s.Name != stream {
			continue
		}
		for _, p := range s.Publishers {
			f := fmt.Sprintf("%s:%d", p.Origin, p.Priority)
			if p.Live {
				f += ":live"
			}
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}
