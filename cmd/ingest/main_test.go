package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

var originBin, ingestBin string

// TestMain builds the real binaries: the test runs them as an operator
// would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relaymesh-ingest-test")
	if err != nil {
		panic(err)
	}
	if originBin, _, err = nodeproc.Build("../..", dir); err != nil {
		panic(err)
	}
	ingestBin = filepath.Join(dir, "ingest")
	if out, err := exec.Command("go", "build", "-tags", nodeproc.Tags(), "-o", ingestBin, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := nodeproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer is a goroutine-safe bytes.Buffer for a child's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// bin/ingest pulls an RTSP source (here the origin itself serves a stream
// published by WHIP) and publishes it back by WHIP under another name; a
// WHEP viewer of that name gets the video. When the source goes away and
// comes back, the gateway reconnects by itself.
func TestIngestPullsRTSPIntoWHIP(t *testing.T) {
	rtspPort := freePort(t)
	origin, err := nodeproc.Start(t.Context(), originBin, "origin", nodeproc.Options{LogDir: t.TempDir(),
		Args: []string{"-rtsp", "127.0.0.1:" + strconv.Itoa(rtspPort), "-rtsp-udp", "", "-reconnect-grace", "1s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Kill()
	h264, ogg, err := mediatest.Files(mediatest.Small)
	if err != nil {
		t.Fatal(err)
	}
	aus, _ := whipclient.AccessUnits(h264)
	opus, _ := whipclient.OpusPackets(ogg)
	src, err := whipclient.Publish(t.Context(), origin.Base+"/whip/camera", whipclient.Options{}, aus, opus)
	if err != nil {
		t.Fatal(err)
	}

	var out syncBuffer
	healthPort := freePort(t)
	cmd := exec.Command(ingestBin, "-source", "rtsp://127.0.0.1:"+strconv.Itoa(rtspPort)+"/camera",
		"-whip", origin.Base+"/whip/copy", "-loopback", "-max-backoff", "1s", "-http", "127.0.0.1:"+strconv.Itoa(healthPort))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	watch := func() *whipclient.Watcher {
		t.Helper()
		var w *whipclient.Watcher
		deadline := time.Now().Add(15 * time.Second)
		for w == nil {
			w, err = whipclient.Watch(t.Context(), origin.Base+"/whep/copy", whipclient.Options{})
			if err != nil && time.Now().After(deadline) {
				t.Fatalf("watching the gateway's stream: %v\n%s", err, out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
		return w
	}
	w := watch()
	defer w.Close()
	// On failure, the origin's log goes with the gateway's.
	both := logs{&out, origin.Log}
	waitCount(t, w, 60, both)
	res, err := http.Get("http://127.0.0.1:" + strconv.Itoa(healthPort) + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("/readyz while publishing: %v %v", res, err)
	}
	res.Body.Close()

	// The source goes away and comes back: the gateway follows.
	src.Close()
	time.Sleep(2 * time.Second)
	src, err = whipclient.Publish(t.Context(), origin.Base+"/whip/camera", whipclient.Options{}, aus, opus)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// Watch once the gateway has published again: a viewer that came
	// earlier could join the gateway's previous stream in its last moments
	// of reconnect grace, and end with it.
	for end := time.Now().Add(15 * time.Second); strings.Count(out.String(), "msg=ingesting") < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the gateway did not publish again after its source came back:\n%s", both)
		}
	}
	w2 := watch()
	defer w2.Close()
	waitCount(t, w2, 60, both)
	if !strings.Contains(out.String(), "reconnecting") {
		t.Fatalf("no reconnect in the gateway's log:\n%s", out.String())
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ingest after SIGINT: %v\n%s", err, out.String())
	}
}

// watchPackets watches url, retrying until the stream is there, until n
// video packets have arrived.
func watchPackets(t *testing.T, url string, n int, out *syncBuffer) {
	t.Helper()
	var w *whipclient.Watcher
	var err error
	for deadline := time.Now().Add(15 * time.Second); w == nil; time.Sleep(200 * time.Millisecond) {
		if w, err = whipclient.Watch(t.Context(), url, whipclient.Options{}); err != nil && time.Now().After(deadline) {
			t.Fatalf("watching %s: %v\n%s", url, err, out.String())
		}
	}
	defer w.Close()
	waitCount(t, w, n, out)
}

func waitCount(t *testing.T, w *whipclient.Watcher, n int, out fmt.Stringer) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); w.Count() < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d video packets through the gateway, want %d\n%s", w.Count(), n, out.String())
		}
	}
}

// A file source: an H.264 file and an Ogg Opus file played in a loop reach
// a WHEP viewer through bin/ingest.
func TestIngestPlaysFiles(t *testing.T) {
	origin, err := nodeproc.Start(t.Context(), originBin, "origin", nodeproc.Options{LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Kill()
	h264, ogg, err := mediatest.Files(mediatest.Small)
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command(ingestBin, "-source", h264, "-audio", ogg, "-whip", origin.Base+"/whip/loop", "-loopback")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	watchPackets(t, origin.Base+"/whep/loop", 60, &out)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	// An AAC file is transcoded to Opus once, then looped like the rest.
	aac := filepath.Join(t.TempDir(), "tone.aac")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "2",
		"-c:a", "aac", "-f", "adts", aac).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	cmd = exec.Command(ingestBin, "-source", h264, "-audio", aac, "-whip", origin.Base+"/whip/aacloop", "-loopback")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); packetsIn(t, origin.Base, "aacloop", "opus") < 50; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no Opus track from the AAC file: %s\n%s", streams(t, origin.Base), out.String())
		}
	}
	if out, err := exec.Command(ingestBin, "-source", "notes.txt", "-whip", origin.Base+"/whip/x", "-check-config").CombinedOutput(); err == nil || !strings.Contains(string(out), ".h264") {
		t.Fatalf("-source notes.txt: %v %s", err, out)
	}
}

// bin/ingest pulls an RTMP URL: ffmpeg serves H.264 with B-frames and AAC
// in its listen mode, and the origin gets the video and the audio as Opus;
// a WHEP viewer gets the video.
func TestIngestPullsRTMP(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is needed (make test installs Debian's ffmpeg)")
	}
	origin, err := nodeproc.Start(t.Context(), originBin, "origin", nodeproc.Options{LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Kill()
	src := "rtmp://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/live/cam"
	ff := exec.Command("ffmpeg", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "20", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30", "-bf", "2",
		"-c:a", "aac", "-b:a", "96k", "-f", "flv", "-listen", "1", src)
	if err := ff.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ff.Process.Kill(); _ = ff.Wait() }()
	var out syncBuffer
	cmd := exec.Command(ingestBin, "-source", src, "-whip", origin.Base+"/whip/pulled", "-loopback")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	watchPackets(t, origin.Base+"/whep/pulled", 60, &out)
	if body := streams(t, origin.Base); !strings.Contains(body, `"codec":"opus"`) || !strings.Contains(body, `profile-level-id=4d001f`) {
		t.Fatalf("the origin's stream is not H.264 Main (as the source) and Opus: %s", body)
	}
}

// packetsIn is how many packets the origin took in on the stream's track
// of codec.
func packetsIn(t *testing.T, base, stream, codec string) int {
	t.Helper()
	var list struct {
		Streams []struct {
			Name   string
			Tracks []struct {
				Codec     string
				PacketsIn int `json:"packets_in"`
			}
		}
	}
	if err := json.Unmarshal([]byte(streams(t, base)), &list); err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Streams {
		for _, tr := range s.Tracks {
			if s.Name == stream && tr.Codec == codec {
				return tr.PacketsIn
			}
		}
	}
	return 0
}

// streams is the origin's GET /api/streams.
func streams(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Get(base + "/api/streams")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(res.Body)
	return body.String()
}

// logs is the gateway's output and the origin's log file, for a failure
// message.
type logs struct {
	gateway    *syncBuffer
	originFile string
}

func (l logs) String() string {
	b, _ := os.ReadFile(l.originFile)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return l.gateway.String() + "\norigin log (its end):\n" + string(b)
}
