package node

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/mediatest"
)

// An RTMP publisher that drops and comes back with the same key (OBS does)
// and an RTSP one that does the same: the viewer keeps its session and sees
// one continuous stream (one SSRC, no sequence jump, time going forward by
// about the gap), and the recording goes on with a monotonic timeline.
// Before, RTMP and RTSP keep one SSRC across reconnects, no new epoch was
// started, and the viewer saw a random sequence jump and timestamps back at
// zero, the recording overlapping times.
func TestRTMPAndRTSPReconnectsAreContinuous(t *testing.T) {
	for _, proto := range []string{"rtmp", "rtsp"} {
		t.Run(proto, func(t *testing.T) {
			n, base := startNode(t, "-rtmp", "127.0.0.1:0", "-rtsp", "127.0.0.1:0", "-rtsp-udp", "",
				"-record-dir", t.TempDir(), "-reconnect-grace", "5s")
			push := func() {
				if proto == "rtmp" {
					ffmpegRTMP(t, fmt.Sprintf("rtmp://%s/live/again", n.rtmp.Addr()), 3)
				} else {
					ffmpegPush(t, fmt.Sprintf("rtsp://%s/again", n.rtsp.Addr()), "tcp", 3)
				}
			}
			live := func() bool { s, ok := n.Registry().Get("again"); return ok && s.Live() && len(s.Tracks()) == 2 }
			push()
			waitUntil(t, 10*time.Second, "the first publish", live)
			v, err := watch(t, newHTTPClient(t), base, "again")
			if err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 10*time.Second, "the first publisher to leave", func() bool { return !live() })
			before := len(v.packets("video"))
			push() // the same key, within the grace
			waitUntil(t, 10*time.Second, "the second publish", live)
			waitUntil(t, 10*time.Second, "video from the second publisher", func() bool { return len(v.packets("video")) > before+60 })

			ps := v.packets("video")
			for i := 1; i < len(ps); i++ {
				if ps[i].ssrc != ps[0].ssrc {
					t.Fatalf("packet %d has SSRC %d after %d: the viewer saw a new stream", i, ps[i].ssrc, ps[0].ssrc)
				}
				if jump := int16(ps[i].seq - ps[i-1].seq); jump < -10 || jump > 10 {
					t.Fatalf("sequence %d after %d (packet %d of %d, the reconnect at %d)", ps[i].seq, ps[i-1].seq, i, len(ps), before)
				}
			}
			// The reconnect is where the longest silence is (packets of the
			// first publisher may still have been on their way at `before`).
			at := 1
			for i := 2; i < len(ps); i++ {
				if ps[i].at.Sub(ps[i-1].at) > ps[at].at.Sub(ps[at-1].at) {
					at = i
				}
			}
			silence := ps[at].at.Sub(ps[at-1].at)
			gap := int32(ps[at].ts - ps[at-1].ts)
			if gap <= 0 || math.Abs(float64(gap)/90000-silence.Seconds()) > 0.5 {
				t.Fatalf("across the reconnect (%v of silence at packet %d) the timestamp moved by %d ticks: want forward, by about the silence", silence, at, gap)
			}

			waitUntil(t, 20*time.Second, "the stream and its recording to end", func() bool {
				list := recordings(t, base)
				return len(list) == 1 && !list[0].Live
			})
			rec := recordings(t, base)[0]
			for i := 1; i < len(rec.Segments); i++ {
				prev, s := rec.Segments[i-1], rec.Segments[i]
				if s.StartS < prev.StartS+prev.DurationS-0.05 {
					t.Fatalf("segment %d starts at %.3f s, before the one before ends (%.3f s): the timeline went back", i, s.StartS, prev.StartS+prev.DurationS)
				}
			}
			if rec.DurationS < 6 || math.IsNaN(rec.DurationS) {
				t.Fatalf("the recording holds %.2f s of two 3 s publishes", rec.DurationS)
			}
			if out, err := mediatest.Decode(base + rec.URL); err != nil || out != "" {
				t.Fatalf("decoding the recording: %v\n%s", err, out)
			}
		})
	}
}
