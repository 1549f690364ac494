package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/ingest/transcode"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// Backups of every protocol on one origin, as people publish them: OBS-like
// RTMP with `dual?priority=2` in its stream key, an RTSP camera gateway at
// rtsp://.../dual?priority=1, a WHIP publisher at priority 0. The viewer
// keeps one session and one SSRC while the RTMP encoder is killed (the
// RTSP backup takes over at its keyframe), and then the RTSP one (the WHIP
// backup takes over); each hand-over is one short gap.
func TestBackupsOfEveryProtocolOnOneOrigin(t *testing.T) {
	if !transcode.Available() {
		t.Fatal(transcode.ErrUnavailable)
	}
	video, audio := testMedia(t)
	n, base := startNode(t, "-rtmp", "127.0.0.1:0", "-rtsp", "127.0.0.1:0", "-rtsp-udp", "")
	hc := newHTTPClient(t)
	rtmpCmd := ffmpegRTMP(t, fmt.Sprintf("rtmp://%s/live/dual?priority=2", n.rtmp.Addr()), 60)
	waitUntil(t, 10*time.Second, "the RTMP primary's two tracks", func() bool {
		s, ok := n.Registry().Get("dual")
		return ok && s.Live() && len(s.Tracks()) == 2
	})
	rtspCmd := ffmpegPush(t, fmt.Sprintf("rtsp://%s/dual?priority=1", n.rtsp.Addr()), "tcp", 60)
	wp, err := publish(t, hc, base, "dual", whipclient.Options{})
	if err != nil {
		t.Fatalf("a WHIP backup at priority 0 was refused: %v", err)
	}
	playVideo(t, wp.video, video, -1)
	playAudio(t, wp.audio, audio)
	if _, err := publish(t, hc, base, "dual?priority=2", whipclient.Options{}); err == nil {
		t.Fatal("a second publisher at the live one's priority was taken")
	}
	v, err := watch(t, hc, base, "dual")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "video at the viewer", func() bool { return markers(v.packets("video")) >= 30 })

	for _, step := range []struct {
		name string
		kill func()
	}{
		{"the RTMP primary dies; the RTSP backup takes over", func() { _ = rtmpCmd.Process.Kill() }},
		{"the RTSP backup dies; the WHIP backup takes over", func() { _ = rtspCmd.Process.Kill() }},
	} {
		before := len(v.packets("video"))
		killed := time.Now()
		step.kill()
		waitUntil(t, 10*time.Second, "video again after "+step.name, func() bool {
			ps := v.packets("video")
			return len(ps) > before+60 && ps[len(ps)-1].at.After(killed.Add(time.Second))
		})
		ps := v.packets("video")
		var gap time.Duration
		for i := max(before, 1); i < len(ps); i++ {
			gap = max(gap, ps[i].at.Sub(ps[i-1].at))
			if ps[i].ssrc != ps[0].ssrc {
				t.Fatalf("%s: the viewer saw a new SSRC", step.name)
			}
		}
		t.Logf("%s: largest gap at the viewer %v", step.name, gap.Round(time.Millisecond))
		waitUntil(t, 5*time.Second, "audio after "+step.name, func() bool {
			as := v.packets("audio")
			return len(as) > 0 && as[len(as)-1].at.After(killed.Add(time.Second))
		})
		// One keyframe interval (1 s) and the drop's detection; a viewer
		// left on a stream with no publisher would wait for good.
		if gap > 3*time.Second {
			t.Fatalf("%s: a gap of %v", step.name, gap)
		}
	}
	if tracks := v.ontrack.Load(); tracks != 2 {
		t.Fatalf("the viewer got %d tracks: a hand-over renegotiated", tracks)
	}
}

// playAudio sends audio (20 ms packets) on track until the test ends.
func playAudio(t *testing.T, track *webrtc.TrackLocalStaticSample, audio [][]byte) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = whipclient.Play(ctx, track, audio, 20*time.Millisecond, -1) }()
	t.Cleanup(func() { cancel(); <-done })
}
