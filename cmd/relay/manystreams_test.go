package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// A relay pulls several streams from one parent at once, each viewer
// arriving as its stream starts: every one plays, and keeps playing.
// Before, the relay's links shared its one UDP port, and pion's mux hands
// a packet to whichever connection last used its source address: links
// between the same two nodes took each other's packets, and of ten streams
// three never played (a DTLS handshake that never completed) while the
// others ran at a fraction of their rate.
func TestARelayPullsManyStreamsFromOneParent(t *testing.T) {
	o := start(t, originBin, "o", nodeprocOpts(true))
	r := start(t, relayBin, "r", nodeprocOpts(false, "-nats", o.NATS, "-join", o.Gossip))
	waitFor(t, 10*time.Second, "two nodes in the cluster", func() bool { n, _ := tree(t, r.Base, "s0"); return n == 2 })
	aus := smallAUs(t)
	var viewers []*whipclient.Watcher
	for i := range 6 {
		name := fmt.Sprintf("s%d", i)
		p, err := whipclient.Publish(t.Context(), o.Base+"/whip/"+name, whipclient.Options{}, aus, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var v *whipclient.Watcher
		waitFor(t, 5*time.Second, "a viewer of "+name+" at the relay", func() bool {
			w, err := whipclient.Watch(t.Context(), r.Base+"/whep/"+name, whipclient.Options{})
			if err != nil {
				time.Sleep(20 * time.Millisecond) // the relay has not heard of it yet: 404
				return false
			}
			v = w
			return true
		})
		defer v.Close()
		viewers = append(viewers, v)
	}
	for i, v := range viewers {
		waitFor(t, 10*time.Second, fmt.Sprintf("video of s%d at the relay", i), func() bool { return v.Count() > 30 })
	}
	counts := make([]int, len(viewers))
	for i, v := range viewers {
		counts[i] = v.Count()
	}
	time.Sleep(2 * time.Second)
	for i, v := range viewers {
		// The test stream is about 30 packets a second; half of that is
		// a link starved by another's.
		if got := v.Count() - counts[i]; got < 30 {
			t.Errorf("s%d: %d video packets in 2 s at the relay's viewer", i, got)
		}
	}
}
