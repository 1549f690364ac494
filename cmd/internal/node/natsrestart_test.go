package node

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"

	"github.com/nats-io/nats-server/v2/server"
)

// natsServer runs a standalone NATS server on a fixed port, as a
// cluster's control plane would be: core NATS only, no JetStream (the
// directory is what the nodes tell each other).
func natsServer(t *testing.T, port int) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := nodeproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The control plane is not on the media path: while NATS restarts (losing
// its in-memory state), media keeps flowing through the relay, and then the
// stream directory comes back by itself (the origin claims its stream again).
func TestNATSRestartWhileMediaFlows(t *testing.T) {
	video, _ := testMedia(t)
	port := freePort(t)
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	ns := natsServer(t, port)
	origin, base := startNode(t, "-node-id", "origin", "-nats", url)
	relay, relayBase := startRelay(t, url)
	hc := newHTTPClient(t)
	pub, v := publishAndWatch(t, hc, base, relayBase, "steady")
	playVideo(t, pub.video, video, -1)
	waitUntil(t, 5*time.Second, "frames through the relay", func() bool { return markers(v.packets("video")) >= 15 })

	ns.Shutdown()
	ns.WaitForShutdown()
	down := len(v.packets("video"))
	time.Sleep(1500 * time.Millisecond)
	if got := len(v.packets("video")); got < down+60 {
		t.Fatalf("media stalled while NATS was down: %d packets in 1.5 s", got-down)
	}

	natsServer(t, port) // back, empty
	waitUntil(t, 20*time.Second, "the directory to know the stream again", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		e, ok, err := relay.dir.Lookup(ctx, "steady")
		return err == nil && ok && e.Origin == "origin"
	})
	_ = origin
	if st := v.sess.PC.ConnectionState().String(); st != "connected" {
		t.Fatalf("viewer %s", st)
	}
}

// While NATS is away no request hangs on it: a new publish and a viewer of
// a stream the relay does not carry yet get a 503 within a few seconds
// (10 s before), and /readyz says not ready so load balancers look
// elsewhere; it is ready again once NATS is back.
func TestNoRequestHangsWhileNATSIsAway(t *testing.T) {
	port := freePort(t)
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	ns := natsServer(t, port)
	_, base := startNode(t, "-node-id", "origin", "-nats", url)
	_, relayBase := startRelay(t, url)
	hc := newHTTPClient(t)
	if _, err := publish(t, hc, base, "live", whipclient.Options{}); err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	ns.WaitForShutdown()

	for _, c := range []struct {
		what, url string
		dir       webrtc.RTPTransceiverDirection
	}{
		{"a new publish at the origin", base + "/whip/new", webrtc.RTPTransceiverDirectionSendonly},
		{"a viewer at the relay of a stream it does not carry", relayBase + "/whep/live", webrtc.RTPTransceiverDirectionRecvonly},
	} {
		offer := makeOffer(t, c.dir, h264Cap)
		start := time.Now()
		res, body := do(t, hc, "POST", c.url, "application/sdp", offer)
		took := time.Since(start)
		if res.StatusCode != http.StatusServiceUnavailable || took > 4*time.Second {
			t.Fatalf("%s while NATS is away: %d %q after %v, want 503 within 4 s", c.what, res.StatusCode, body, took)
		}
		t.Logf("%s while NATS is away: 503 in %v", c.what, took.Round(time.Millisecond))
	}
	for _, b := range []string{base, relayBase} {
		if res, _ := do(t, hc, "GET", b+"/readyz", "", ""); res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s/readyz while NATS is away: %d, want 503", b, res.StatusCode)
		}
	}
	natsServer(t, port)
	waitUntil(t, 20*time.Second, "ready again once NATS is back", func() bool {
		res, _ := do(t, hc, "GET", relayBase+"/readyz", "", "")
		return res.StatusCode == http.StatusOK
	})
}
