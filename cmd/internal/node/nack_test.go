package node

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// lossy drops every nth incoming SRTP packet (the first byte of RTP/RTCP is
// 128-191, RFC 7983), never STUN or DTLS, so ICE and the handshake are
// unaffected and only media is lost.
type lossy struct {
	net.PacketConn
	every   int64
	n       atomic.Int64
	dropped atomic.Int64
}

func (l *lossy) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, a, err := l.PacketConn.ReadFrom(b)
		if err != nil || n < 2 || b[0] < 128 || b[0] > 191 || (b[1] >= 192 && b[1] <= 223) {
			return n, a, err
		}
		if l.n.Add(1)%l.every == 0 {
			l.dropped.Add(1)
			continue
		}
		return n, a, err
	}
}

// A viewer on a lossy path gets its losses repaired from the origin's shared
// packet cache (its NACKs never reach the publisher), and sees every packet.
func TestNACKsAreServedFromTheSharedCache(t *testing.T) {
	video, audio := testMedia(t)
	n, base := startNode(t)
	hc := newHTTPClient(t)
	pub, err := publish(t, hc, base, "loss", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}

	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	path := &lossy{PacketConn: conn, every: 25}
	v, err := watchWith(t, hc, base, "loss", whipclient.Options{Settings: settingsOn(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	pub.warmUp(t, video, audio, v)
	s, _ := n.Registry().Get("loss")
	var video0 *fanout.Track
	for _, tr := range s.Tracks() {
		if tr.Kind() == fanout.KindVideo {
			video0 = tr
		}
	}
	inBefore, seen, droppedBefore := video0.Stats().PacketsIn.Load(), v.seqSet("video"), path.dropped.Load()
	pub.send(t, video, audio, 60)
	in := video0.Stats().PacketsIn.Load() - inBefore
	waitUntil(t, 10*time.Second, "every video packet, repaired", func() bool {
		seqs, _ := uniqueSeqs(v.packetsAfter("video", seen))
		return uint64(len(seqs)) >= in
	})
	if path.dropped.Load() == droppedBefore {
		t.Fatal("the lossy path dropped nothing while measuring; the test proves nothing")
	}
	served := metricSum(t, hc, base, "relaymesh_nacks_served_total")
	if served == 0 {
		t.Fatalf("%d packets were lost but no NACK was served from the cache", path.dropped.Load())
	}
	t.Logf("dropped %d packets on the viewer's path; %v retransmissions served from the cache", path.dropped.Load(), served)
}

// The API and metrics describe what is flowing.
func TestStreamsAPIAndMetrics(t *testing.T) {
	video, audio := testMedia(t)
	_, base := startNode(t)
	hc := newHTTPClient(t)
	pub, err := publish(t, hc, base, "api", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	viewers := make([]*viewer, 5)
	for i := range viewers {
		if viewers[i], err = watch(t, hc, base, "api"); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	pub.warmUp(t, video, audio, viewers...)
	pub.send(t, video, audio, 45)

	res, body := do(t, hc, "GET", base+"/api/streams", "", "")
	var api struct {
		Node    string       `json:"node"`
		Streams []StreamInfo `json:"streams"`
	}
	if err := json.Unmarshal([]byte(body), &api); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /api/streams: %d %v %s", res.StatusCode, err, body)
	}
	if len(api.Streams) != 1 || api.Streams[0].Name != "api" || !api.Streams[0].Live || api.Streams[0].Viewers != 5 ||
		len(api.Streams[0].Tracks) != 2 || api.Streams[0].BitrateBPS == 0 || api.Node != "test-origin" {
		t.Fatalf("api: %s", body)
	}
	codecs := api.Streams[0].Tracks[0].Codec + "," + api.Streams[0].Tracks[1].Codec
	if !strings.Contains(codecs, "H264") || !strings.Contains(codecs, "opus") {
		t.Fatalf("codecs %s", codecs)
	}
	for metric, want := range map[string]float64{"relaymesh_viewers": 5, "relaymesh_publishers": 1, "relaymesh_streams": 1} {
		if got := metricSum(t, hc, base, metric); got != want {
			t.Errorf("%s = %v, want %v", metric, got, want)
		}
	}
	if metricSum(t, hc, base, "relaymesh_packets_out_total") < 5*metricSum(t, hc, base, "relaymesh_packets_in_total")*0.9 {
		t.Error("packets out is not about 5 times packets in")
	}
	// Five viewers joined and each asked for a keyframe: coalesced, at most
	// one request per 500 ms went to the publisher.
	kf := metricSum(t, hc, base, "relaymesh_keyframe_requests_upstream_total")
	if limit := time.Since(start).Seconds()/0.5 + 2; kf > limit {
		t.Errorf("%v keyframe requests upstream in %.1f s: not coalesced", kf, time.Since(start).Seconds())
	}
	res, _ = do(t, hc, "GET", base+"/readyz", "", "")
	if res.StatusCode != 200 {
		t.Errorf("/readyz %d", res.StatusCode)
	}
}

// metricSum adds every sample of a metric family in /metrics.
func metricSum(t *testing.T, hc *http.Client, base, name string) float64 {
	t.Helper()
	_, body := do(t, hc, "GET", base+"/metrics", "", "")
	var sum float64
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}
