package node

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// A viewer on a relay gets the stream published on the origin: the relay
// pulls it on demand, and every video payload arrives byte for byte as the
// origin's own viewer gets it, under the publisher's sequence numbers.
func TestRelayPullsOnDemandAndDeliversIdenticalPayloads(t *testing.T) {
	video, audio := testMedia(t)
	origin, baseO := startNode(t, "-node-id", "origin-1", "-nats-listen", "127.0.0.1:0")
	relay, baseR := startRelay(t, origin.NATSURL(), "-idle-timeout", "1s")
	hc := newHTTPClient(t)
	pub, err := publish(t, hc, baseO, "live", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	atOrigin, err := watch(t, hc, baseO, "live")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	atRelay, err := watch(t, hc, baseR, "live")
	if err != nil {
		t.Fatalf("viewer on the relay: %v", err)
	}
	t.Logf("relay viewer connected %v after asking (cold relay)", time.Since(start).Round(time.Millisecond))
	pub.warmUp(t, video, audio, atOrigin, atRelay)
	mark := atRelay.seqSet("video")
	pub.send(t, video, audio, 60)
	waitUntil(t, 10*time.Second, "60 frames at the relay's viewer", func() bool { return atRelay.framesSince(mark) >= 60 })

	sums := map[uint16]uint64{}
	for _, p := range atOrigin.packets("video") {
		sums[p.seq] = p.sum
	}
	checked := 0
	for _, p := range atRelay.packets("video") {
		want, ok := sums[p.seq]
		if !ok {
			t.Fatalf("relay viewer got seq %d, which the origin's viewer never saw", p.seq)
		}
		if p.sum != want {
			t.Fatalf("payload of seq %d differs between origin and relay", p.seq)
		}
		checked++
	}
	if checked < 60 {
		t.Fatalf("only %d payloads compared", checked)
	}
	seqs, inOrder := uniqueSeqs(atRelay.packets("video"))
	if !contiguous(seqs) || !inOrder {
		t.Fatal("the relay's viewer missed or reordered packets")
	}
	if got := relay.Streams(); len(got) == 0 || got[0].Name != "live" || got[0].Origin != "origin-1" {
		t.Fatalf("relay streams: %+v", got)
	}

	// The viewer leaves; after the idle timeout the relay leaves the tree.
	if err := atRelay.sess.Delete(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the relay to leave", func() bool {
		_, carried := relay.Registry().Get("live")
		return !carried && origin.whepEP.Sessions() == 1
	})
}

func TestRelayErrors(t *testing.T) {
	origin, _ := startNode(t, "-node-id", "origin-2", "-nats-listen", "127.0.0.1:0")
	_, baseR := startRelay(t, origin.NATSURL())
	hc := newHTTPClient(t)
	res, body := do(t, hc, "POST", baseR+"/whep/nobody", "application/sdp", makeOffer(t, webrtc.RTPTransceiverDirectionRecvonly, h264Cap))
	if res.StatusCode != 404 || !strings.Contains(body, "not being published in this cluster") {
		t.Fatalf("unknown stream on a relay: %d %q", res.StatusCode, body)
	}
	res, body = do(t, hc, "POST", baseR+"/whip/x", "application/sdp", makeOffer(t, webrtc.RTPTransceiverDirectionSendonly, h264Cap))
	if res.StatusCode != 404 || !strings.Contains(body, "relay") {
		t.Fatalf("publishing to a relay: %d %q", res.StatusCode, body)
	}
	if _, err := Load("relay", []string{"-http", "127.0.0.1:0"}, nil); err == nil {
		cfg, _ := Load("relay", []string{"-http", "127.0.0.1:0", "-webrtc-udp", "127.0.0.1:0"}, nil)
		if _, err := New(cfg, RoleRelay, cfg.Logger(newTestWriter(t))); err == nil || !strings.Contains(err.Error(), "-nats") {
			t.Fatalf("relay without -nats: %v", err)
		}
	}
}

// When the relay's upstream link is cut, the relay links again by itself and
// its viewer keeps playing: same connection, same SSRC, no renegotiation,
// only a short gap.
func TestRelayRelinksWithoutViewersReconnecting(t *testing.T) {
	video, audio := testMedia(t)
	origin, baseO := startNode(t, "-node-id", "origin-3", "-nats-listen", "127.0.0.1:0")
	_, baseR := startRelay(t, origin.NATSURL())
	hc := newHTTPClient(t)
	pub, v := publishAndWatch(t, hc, baseO, baseR, "heal")
	playVideo(t, pub.video, video, -1)
	_ = audio
	waitUntil(t, 5*time.Second, "frames through the relay", func() bool { return markers(v.packets("video")) >= 15 })

	tracksBefore := v.ontrack.Load()
	origin.whepEP.CloseAll() // the origin drops the relay's upstream session
	cut := time.Now()
	before := len(v.packets("video"))
	waitUntil(t, 10*time.Second, "frames again after the cut", func() bool { return len(v.packets("video")) > before+30 })
	ps := v.packets("video")
	var gap time.Duration
	for i := before; i < len(ps) && i > 0; i++ {
		if d := ps[i].at.Sub(ps[i-1].at); d > gap {
			gap = d
		}
	}
	t.Logf("media gap at the relay's viewer after the cut: %v (cut to first new packet %v)", gap.Round(time.Millisecond), ps[before].at.Sub(cut).Round(time.Millisecond))
	for _, p := range ps {
		if p.ssrc != ps[0].ssrc {
			t.Fatal("the viewer's SSRC changed: its decoder would see a new stream")
		}
	}
	if v.sess.PC.ConnectionState() != webrtc.PeerConnectionStateConnected || v.ontrack.Load() != tracksBefore {
		t.Fatalf("viewer state %s, %d tracks: it should not have reconnected", v.sess.PC.ConnectionState(), v.ontrack.Load())
	}
	if _, inOrder := uniqueSeqs(ps); !inOrder {
		t.Fatal("packets out of order across the re-link")
	}
	if gap > 2*time.Second {
		t.Fatalf("media gap %v over the 2 s budget", gap)
	}
}

// Nodes find each other by gossip, and /api/topology shows them with each
// stream's tree as relays link into it.
func TestTopologyAPI(t *testing.T) {
	video, _ := testMedia(t)
	origin, base := startNode(t, "-node-id", "o1", "-nats-listen", "127.0.0.1:0", "-zone", "eu")
	_, relayBase := startRelay(t, origin.NATSURL(), "-node-id", "r1", "-join", origin.cluster.Addr(), "-zone", "us")
	hc := newHTTPClient(t)
	pub, v := publishAndWatch(t, hc, base, relayBase, "topo")
	playVideo(t, pub.video, video, 30)
	waitUntil(t, 5*time.Second, "frames at the relay", func() bool { return len(v.packets("video")) > 0 })

	var topo Topology
	waitUntil(t, 5*time.Second, "both nodes and the edge in /api/topology", func() bool {
		_, body := do(t, hc, "GET", base+"/api/topology", "", "")
		if err := json.Unmarshal([]byte(body), &topo); err != nil {
			t.Fatal(err)
		}
		return len(topo.Nodes) == 2 && len(topo.Streams) == 1 && len(topo.Streams[0].Edges) == 1
	})
	if n := topo.Nodes[1]; n.ID != "r1" || n.Role != "relay" || n.Zone != "us" || n.HTTP == "" {
		t.Fatalf("relay as the origin sees it: %+v", n)
	}
	if s := topo.Streams[0]; s.Name != "topo" || s.Origin != "o1" || s.Edges[0] != (TreeEdge{Parent: "o1", Child: "r1"}) {
		t.Fatalf("tree %+v", s)
	}
}
