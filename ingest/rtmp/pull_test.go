package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest/transcode"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ffmpegServe makes ffmpeg an RTMP server (its listen mode) that serves
// testsrc2 H.264 with B-frames and a sine in AAC to the first player, for
// seconds.
func ffmpegServe(t *testing.T, url string, seconds int) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is needed (make test installs Debian's ffmpeg)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30", "-bf", "2",
		"-c:a", "aac", "-b:a", "96k", "-f", "flv", "-listen", "1", url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
}

// Pull plays a stream from a real RTMP server (ffmpeg's listen mode) and
// publishes it as a pushed stream would be: an H.264 track and, from AAC,
// an Opus track, both fed; the server's end of the stream ends Pull.
func TestPullFromFFmpeg(t *testing.T) {
	url := fmt.Sprintf("rtmp://127.0.0.1:%d/live/cam", freePort(t))
	ffmpegServe(t, url, 4)
	pullAndCount(t, url, PullParams{})
}

// rtmps:// pulls go over TLS, verified against the roots given: here a
// TLS front (as a CDN's edge terminates RTMPS) before ffmpeg's server.
func TestPullRTMPS(t *testing.T) {
	port := freePort(t)
	ffmpegServe(t, fmt.Sprintf("rtmp://127.0.0.1:%d/live/cam", port), 4)
	front, roots := tlsFront(t, fmt.Sprintf("127.0.0.1:%d", port))
	pullAndCount(t, "rtmps://"+front+"/live/cam", PullParams{TLS: &tls.Config{RootCAs: roots}})

	// The same front with no roots for its certificate refuses to pull.
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	pub, _ := reg.Publish("x")
	if err := Pull(t.Context(), "rtmps://"+front+"/live/cam", pub, PullParams{Silence: 2 * time.Second}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an unverified server: %v, want a certificate error", err)
	}
}

// pullAndCount pulls url into a registry and checks what Pull publishes:
// an H.264 track and, from AAC, an Opus track, both fed; the server's end
// of the stream ends Pull with ErrSourceEnded.
func pullAndCount(t *testing.T, url string, p PullParams) {
	t.Helper()
	if !transcode.Available() {
		t.Fatal("this test needs AAC transcoding: build with -tags transcode (make test does)")
	}
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		var err error
		// ffmpeg needs a moment to listen; a loaded machine, several.
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
			pub, perr := reg.Publish("cam") // Pull ends its publication
			if perr != nil {
				done <- perr
				return
			}
			err = Pull(ctx, url, pub, p)
			if err == nil || !strings.Contains(err.Error(), "refused") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		done <- err
	}()
	var vc, ac counter
	var subs []*fanout.Subscriber
	deadline := time.Now().Add(20 * time.Second)
	for len(subs) < 2 && time.Now().Before(deadline) {
		var tr []*fanout.Track
		if s, ok := reg.Get("cam"); ok {
			tr = s.Tracks()
		}
		if len(tr) == 2 {
			if tr[0].Codec().MimeType != "video/H264" || tr[1].Codec().MimeType != "audio/opus" {
				t.Fatalf("tracks %v %v", tr[0].Codec(), tr[1].Codec())
			}
			v, _ := tr[0].Subscribe(&vc)
			a, _ := tr[1].Subscribe(&ac)
			subs = append(subs, v, a)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(subs) < 2 {
		t.Fatal("no video and audio tracks from the pulled stream")
	}
	for _, sub := range subs {
		defer sub.Close()
	}
	err := <-done
	if !errors.Is(err, ErrSourceEnded) {
		t.Fatalf("Pull ended with %v, want the end of the source", err)
	}
	if vc.n.Load() < 60 || ac.n.Load() < 100 {
		t.Fatalf("%d video and %d audio packets in about 3 s", vc.n.Load(), ac.n.Load())
	}
}

// Bad URLs are refused with a sentence that says what an RTMP URL needs.
func TestPullBadURLs(t *testing.T) {
	for _, u := range []string{"rtmp://h/live", "rtmp:///live/x", "http://h/live/x", "srt://h/live/x"} {
		reg := fanout.NewRegistry(fanout.RegistryParams{})
		pub, _ := reg.Publish("x")
		if err := Pull(context.Background(), u, pub, PullParams{}); err == nil || !strings.Contains(err.Error(), "rtmp://") {
			t.Errorf("%s: %v", u, err)
		}
		reg.Close()
	}
	// ffmpeg's and OBS's split: the application is the first element, the
	// stream the rest with its query; rtmps:// is taken too.
	for raw, want := range map[string]string{
		"rtmp://cdn.example/live/cam?token=1":  "rtmp://cdn.example/live#cam?token=1",
		"rtmps://cdn.example:443/app/a/b":      "rtmps://cdn.example:443/app#a/b",
		"rtmp://user:pw@cdn.example/live/cam2": "rtmp://user:pw@cdn.example/live#cam2",
	} {
		if u, err := parsePullURL(raw); err != nil || u.String() != want {
			t.Errorf("%s: %v %v, want %s", raw, u, err, want)
		}
	}
}

// A server that accepts the connection and then says nothing ends the
// pull after the silence limit, with an error that names the step.
func TestPullSilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	pub, _ := reg.Publish("x")
	err = Pull(context.Background(), "rtmp://"+l.Addr().String()+"/live/x", pub, PullParams{Silence: 300 * time.Millisecond})
	if c, ok := <-accepted; ok {
		c.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("%v, want a failed handshake", err)
	}
}
