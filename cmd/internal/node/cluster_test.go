package node

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// Two origins on one control plane: a stream name belongs to one origin in
// the whole cluster, every node lists it with its origin, and the name is
// free again once its stream has ended.
func TestStreamNamesAreUniqueAcrossOrigins(t *testing.T) {
	a, baseA := startNode(t, "-node-id", "origin-a", "-nats-listen", "127.0.0.1:0", "-reconnect-grace", "1s")
	_, baseB := startNode(t, "-node-id", "origin-b", "-nats", a.NATSURL())
	hc := newHTTPClient(t)

	pub, err := publish(t, hc, baseA, "solo", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, body := do(t, hc, "POST", baseB+"/whip/solo", "application/sdp", makeOffer(t, webrtc.RTPTransceiverDirectionSendonly, h264Cap))
	if res.StatusCode != 409 || !strings.Contains(body, "origin-a") {
		t.Fatalf("publishing a's stream on b: %d %q, want 409 naming origin-a", res.StatusCode, body)
	}

	_, listing := do(t, hc, "GET", baseB+"/api/streams", "", "")
	var api struct{ Streams []StreamInfo }
	if err := json.Unmarshal([]byte(listing), &api); err != nil || len(api.Streams) != 1 || api.Streams[0].Origin != "origin-a" {
		t.Fatalf("b's /api/streams: %s", listing)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pub.sess.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	// After a's reconnect grace (1 s) the stream ends and the name is free.
	waitUntil(t, 10*time.Second, "the name to be free on b", func() bool {
		res, _ := do(t, hc, "POST", baseB+"/whip/solo", "application/sdp", makeOffer(t, webrtc.RTPTransceiverDirectionSendonly, h264Cap))
		return res.StatusCode == 201
	})
}
