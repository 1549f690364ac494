package node

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// Twenty WHEP viewers each receive every video frame and audio packet the
// publisher sent, in order, over the batching writer (-gso) and without it.
// SRTP authenticates each packet, so every one that arrives arrived byte
// for byte.
func TestTwentyViewersReceiveEveryFrameInOrder(t *testing.T) {
	for _, gso := range []bool{true, false} {
		t.Run(fmt.Sprintf("gso=%v", gso), func(t *testing.T) { twentyViewers(t, gso) })
	}
}

func twentyViewers(t *testing.T, gso bool) {
	video, audio := testMedia(t)
	n, base := startNode(t, fmt.Sprintf("-gso=%v", gso))
	hc := newHTTPClient(t)
	pub, err := publish(t, hc, base, "cam", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	viewers := make([]*viewer, 20)
	for i := range viewers {
		if viewers[i], err = watch(t, hc, base, "cam"); err != nil {
			t.Fatalf("viewer %d: %v", i, err)
		}
	}
	pub.warmUp(t, video, audio, viewers...)
	settle(viewers...)
	s, _ := n.Registry().Get("cam")
	inBefore := map[string]uint64{}
	for _, tr := range s.Tracks() {
		inBefore[tr.Kind().String()] = tr.Stats().PacketsIn.Load()
	}
	before := make([]map[string]map[uint16]bool, len(viewers))
	for i, v := range viewers {
		before[i] = map[string]map[uint16]bool{"video": v.seqSet("video"), "audio": v.seqSet("audio")}
	}

	const frames = 90
	pub.send(t, video, audio, frames)
	in := map[string]uint64{}
	for _, tr := range s.Tracks() {
		in[tr.Kind().String()] = tr.Stats().PacketsIn.Load() - inBefore[tr.Kind().String()]
	}
	if in["video"] == 0 || in["audio"] == 0 {
		t.Fatalf("the origin received no media: %v", in)
	}
	for i, v := range viewers {
		for _, kind := range []string{"video", "audio"} {
			waitUntil(t, 10*time.Second, fmt.Sprintf("viewer %d %s", i, kind), func() bool {
				seqs, _ := uniqueSeqs(v.packetsAfter(kind, before[i][kind]))
				return uint64(len(seqs)) >= in[kind]
			})
			seqs, inOrder := uniqueSeqs(v.packetsAfter(kind, before[i][kind]))
			if uint64(len(seqs)) != in[kind] || !contiguous(seqs) || !inOrder {
				t.Fatalf("viewer %d %s: %d distinct packets (origin got %d), contiguous=%v in order=%v",
					i, kind, len(seqs), in[kind], contiguous(seqs), inOrder)
			}
		}
		if m := markers(v.packetsAfter("video", before[i]["video"])); m != frames {
			t.Fatalf("viewer %d saw %d complete frames, want %d", i, m, frames)
		}
	}
	// The packets went the way -gso says: in bursts of several (a frame
	// the publisher sends at once), or one send each.
	bursts, datagrams := n.engine.BatchStats()
	switch {
	case gso && (bursts == 0 || float64(datagrams)/float64(bursts) < 1.5):
		t.Fatalf("-gso: %d bursts of %d datagrams; want frames sent as bursts", bursts, datagrams)
	case !gso && (bursts != 0 || n.engine.Batching()):
		t.Fatalf("-gso=false: %d bursts sent", bursts)
	}
	// Under -gso every viewer's RTP was encrypted and sent by the node's
	// own egress (internal/rtc/egress.go), none by pion's path.
	own, pion := n.engine.EgressStats()
	switch {
	case gso && (own != int64(len(viewers)) || pion != 0):
		t.Fatalf("-gso: %d sessions sent by the node's egress and %d by pion; want all %d by the node", own, pion, len(viewers))
	case !gso && own+pion != 0:
		t.Fatalf("-gso=false: %d sessions counted by the node's egress", own+pion)
	}
	t.Logf("%d bursts, %.1f datagrams each", bursts, float64(datagrams)/float64(max(bursts, 1)))
}

// A viewer stays connected while the publisher leaves (with DELETE) and
// publishes again: it sees one stream (same SSRC, contiguous sequence
// numbers) and no renegotiation.
func TestPublisherReconnectKeepsViewerPlaying(t *testing.T) {
	video, audio := testMedia(t)
	_, base := startNode(t)
	hc := newHTTPClient(t)
	pub, v := publishAndWatch(t, hc, base, base, "re")
	pub.warmUp(t, video, audio, v)
	mark := v.seqSet("video")
	pub.send(t, video, audio, 30)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pub.sess.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	pub2, err := publish(t, hc, base, "re", whipclient.Options{})
	if err != nil {
		t.Fatalf("republish within the grace period: %v", err)
	}
	pub2.send(t, video, audio, 30)
	waitUntil(t, 10*time.Second, "60 frames at the viewer", func() bool { return v.framesSince(mark) >= 60 })

	ps := v.packets("video")
	seqs, inOrder := uniqueSeqs(ps)
	if !contiguous(seqs) || !inOrder {
		t.Fatalf("sequence numbers broke across the reconnect: %d packets, contiguous=%v in order=%v", len(seqs), contiguous(seqs), inOrder)
	}
	for _, p := range ps {
		if p.ssrc != ps[0].ssrc {
			t.Fatalf("SSRC changed from %d to %d: the viewer's decoder would see a new stream", ps[0].ssrc, p.ssrc)
		}
	}
	if v.ontrack.Load() != 2 {
		t.Fatalf("viewer got %d tracks, want 2 (no renegotiation)", v.ontrack.Load())
	}
	if st := v.sess.PC.ConnectionState(); st != webrtc.PeerConnectionStateConnected {
		t.Fatalf("viewer connection %s", st)
	}
}

// A publisher that vanishes without a DELETE (its network gone) releases the
// stream name within about 2 s, and a new publisher takes over the stream
// with the viewer still attached.
func TestVanishedPublisherReleasesNameQuickly(t *testing.T) {
	video, audio := testMedia(t)
	_, base := startNode(t)
	hc := newHTTPClient(t)

	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cable := &unpluggable{PacketConn: conn}
	pub, err := publish(t, hc, base, "gone", whipclient.Options{Settings: settingsOn(t, cable)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := watch(t, hc, base, "gone")
	if err != nil {
		t.Fatal(err)
	}
	pub.send(t, video, audio, 15)
	cable.pulled.Store(true)
	pulled := time.Now()

	var pub2 *publisher
	for pub2 == nil {
		if time.Since(pulled) > 6*time.Second {
			t.Fatal("the stream name was not released within 6 s of the publisher vanishing")
		}
		if pub2, err = publish(t, hc, base, "gone", whipclient.Options{}); err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("stream name released %.2f s after the publisher vanished", time.Since(pulled).Seconds())
	before := markers(v.packets("video"))
	pub2.send(t, video, audio, 15)
	waitUntil(t, 10*time.Second, "frames from the new publisher", func() bool { return markers(v.packets("video")) >= before+15 })
	if st := v.sess.PC.ConnectionState(); st != webrtc.PeerConnectionStateConnected {
		t.Fatalf("viewer connection %s after the publisher changed", st)
	}
}
