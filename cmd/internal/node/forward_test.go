package node

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// Behind a load balancer, a client's PATCH and DELETE can land on a node
// that does not own the session: it forwards them over the control plane.
// Two origins on loopback share one NATS; sessions made on a are patched
// and deleted through b.
func TestPatchAndDeleteReachTheOwningNode(t *testing.T) {
	a, baseA := startNode(t, "-node-id", "lb-a", "-nats-listen", "127.0.0.1:0")
	_, baseB := startNode(t, "-node-id", "lb-b", "-nats", a.NATSURL())
	hc := newHTTPClient(t)
	pub, err := publish(t, hc, baseA, "lb", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := watch(t, hc, baseA, "lb")
	if err != nil {
		t.Fatal(err)
	}
	viaB := func(location string) string {
		u, err := url.Parse(location)
		if err != nil {
			t.Fatal(err)
		}
		return baseB + u.Path
	}
	// A trickled candidate through b: 204 from a, with a's ETag.
	frag := "a=ice-ufrag:" + ufragOf(v.sess.PC.LocalDescription().SDP) + "\r\na=ice-pwd:" + pwdOf(v.sess.PC.LocalDescription().SDP) +
		"\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
	res, body := do(t, hc, "PATCH", viaB(v.sess.Location), "application/trickle-ice-sdpfrag", frag, "If-Match", v.sess.ETag)
	if res.StatusCode != 204 || res.Header.Get("ETag") != v.sess.ETag {
		t.Fatalf("PATCH through the other node: %d %q (ETag %q, want %q)", res.StatusCode, body, res.Header.Get("ETag"), v.sess.ETag)
	}
	// A stale If-Match through b gets a's 412.
	if res, _ := do(t, hc, "PATCH", viaB(v.sess.Location), "application/trickle-ice-sdpfrag", frag, "If-Match", `"stale"`); res.StatusCode != 412 {
		t.Fatalf("stale PATCH through the other node: %d, want 412", res.StatusCode)
	}
	// DELETE of the viewer and of the publisher through b end them on a.
	views := a.whepEP.Sessions()
	if res, body := do(t, hc, "DELETE", viaB(v.sess.Location), "", ""); res.StatusCode != 200 {
		t.Fatalf("DELETE of a viewer through the other node: %d %q", res.StatusCode, body)
	}
	waitUntil(t, 5*time.Second, "the viewer's session gone on its node", func() bool { return a.whepEP.Sessions() == views-1 })
	if res, body := do(t, hc, "DELETE", viaB(pub.sess.Location), "", ""); res.StatusCode != 200 {
		t.Fatalf("DELETE of a publisher through the other node: %d %q", res.StatusCode, body)
	}
	waitUntil(t, 5*time.Second, "the publisher's session gone on its node", func() bool { return a.whipEP.Sessions() == 0 })
	// No node owns it any more: a prompt 404.
	start := time.Now()
	if res, body := do(t, hc, "DELETE", viaB(pub.sess.Location), "", ""); res.StatusCode != 404 || !strings.Contains(body, "no session") || time.Since(start) > 2*time.Second {
		t.Fatalf("DELETE of an ended session: %d %q after %v", res.StatusCode, body, time.Since(start))
	}
}
