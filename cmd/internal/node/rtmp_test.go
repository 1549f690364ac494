package node

import (
	"context"
	"fmt"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/relaymesh/relaymesh/ingest/transcode"
	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// ffmpegRTMP pushes testsrc2 in H.264 and a 440 Hz sine in AAC to url, as
// OBS or any encoder would, for seconds.
func ffmpegRTMP(t *testing.T, url string, seconds int) *exec.Cmd {
	t.Helper()
	return ffmpegRTMPWith(t, url, seconds, "-profile:v", "baseline", "-tune", "zerolatency")
}

// ffmpegRTMPWith is ffmpegRTMP with other x264 settings.
func ffmpegRTMPWith(t *testing.T, url string, seconds int, x264 ...string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is needed (make test installs Debian's ffmpeg)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast"}, x264...)
	args = append(args, "-pix_fmt", "yuv420p", "-g", "30", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "flv", url)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	return cmd
}

// loudness decodes Opus payloads (20 ms each) with ffmpeg and returns their
// mean volume in dB.
func loudness(t *testing.T, payloads [][]byte) float64 {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audio.ogg")
	w, err := oggwriter.New(path, 48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range payloads {
		_ = w.WriteRTP(&rtp.Packet{Header: rtp.Header{Timestamp: uint32(i * 960)}, Payload: p})
	}
	_ = w.Close()
	out, _ := exec.Command("ffmpeg", "-i", path, "-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	m := regexp.MustCompile(`mean_volume: (-?[0-9.]+) dB`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("ffmpeg measured no volume:\n%s", out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// ffmpeg pushes H.264 + AAC over RTMP; a WHEP viewer gets the video, with
// SPS and PPS before its first IDR, and Opus audio (transcoded once at
// ingest) in which the tone is heard.
func TestRTMPPublishReachesWHEPViewersWithAudio(t *testing.T) {
	if !transcode.Available() {
		t.Fatal(transcode.ErrUnavailable)
	}
	n, base := startNode(t, "-rtmp", "127.0.0.1:0")
	ffmpegRTMP(t, fmt.Sprintf("rtmp://%s/live/rtmpcam", n.rtmp.Addr()), 8)
	waitUntil(t, 10*time.Second, "the RTMP stream with its two tracks", func() bool {
		s, ok := n.Registry().Get("rtmpcam")
		return ok && s.Live() && len(s.Tracks()) == 2
	})
	v, err := watch(t, newHTTPClient(t), base, "rtmpcam")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "video frames and 2 s of audio at the viewer", func() bool {
		return markers(v.packets("video")) >= 30 && len(v.packets("audio")) >= 100
	})
	if !spsBeforeFirstIDR(v) {
		t.Fatal("no SPS before the viewer's first IDR")
	}
	var payloads [][]byte
	for _, p := range v.packets("audio") {
		payloads = append(payloads, p.audio)
	}
	if db := loudness(t, payloads); db < -40 {
		t.Fatalf("the viewer's audio is at %.1f dB: silence, not the tone", db)
	}
}

// Bad RTMP publishers are refused and the node goes on: a truncated
// handshake, garbage, the wrong application, a bad name, a wrong token, a
// name in use. Each refusal leaves a log line; then a good push works.
func TestRTMPBadPublishers(t *testing.T) {
	n, base := startNode(t, "-rtmp", "127.0.0.1:0", "-publish-token", "s3cret")
	addr := n.rtmp.Addr().String()
	for _, junk := range [][]byte{{3}, append([]byte{3}, make([]byte, 700)...), []byte("GET / HTTP/1.1\r\n\r\n")} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(junk)
		c.Close()
	}
	if _, err := publish(t, newHTTPClient(t), base, "taken", whipclient.Options{Token: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"other/cam?token=s3cret", "live/bad%20name?token=s3cret", "live/cam", "live/cam?token=nope", "live/taken?token=s3cret"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1",
			"-c:v", "libx264", "-preset", "ultrafast", "-f", "flv", "rtmp://"+addr+"/"+key).CombinedOutput()
		cancel()
		if err == nil {
			t.Errorf("publish to %s was accepted: %s", key, out)
		}
	}
	if _, ok := n.Registry().Get("cam"); ok {
		t.Fatal("a refused publisher left a stream behind")
	}
	ffmpegRTMP(t, "rtmp://"+addr+"/live/good?token=s3cret", 4)
	waitUntil(t, 10*time.Second, "a good RTMP publish after the bad ones", func() bool {
		s, ok := n.Registry().Get("good")
		return ok && s.Live()
	})
}

// An encoder's defaults bring B-frames (frames sent in decode order with
// presentation timestamps). The recording of such an RTMP stream gets its
// decode times from the pictures' order counts: ffprobe finds the length
// that was sent, and every frame decodes.
func TestRTMPWithBFramesIsRecorded(t *testing.T) {
	if !transcode.Available() {
		t.Fatal(transcode.ErrUnavailable)
	}
	n, base := startNode(t, "-rtmp", "127.0.0.1:0", "-record-dir", t.TempDir(), "-reconnect-grace", "500ms")
	ffmpegRTMPWith(t, fmt.Sprintf("rtmp://%s/live/bframes", n.rtmp.Addr()), 6, "-profile:v", "main", "-bf", "2")
	rec := finishedRecordingWithin(t, base, 20*time.Second)
	if d := probeDuration(t, base+rec.URL); math.Abs(d-6) > 0.5 {
		t.Fatalf("recorded %.2f s of 6 s sent", d)
	}
	if out, err := mediatest.Decode(base + rec.URL); err != nil || out != "" {
		t.Fatalf("decoding the recording: %v\n%s", err, out)
	}
}
