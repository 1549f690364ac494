package node

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/ingest/transcode"
)

// The browser path end to end: headless Chromium opens the web page,
// publishes its fake camera and microphone by WHIP, a second page watches by
// WHEP, and getStats shows video frames decoded and audio packets arriving.
// Needs node, Debian's chromium and test/browser's npm packages, which
// `make test` installs; missing ones fail the test, they never skip it.
func TestBrowserPublishesAndWatches(t *testing.T) {
	_, base := startNode(t)
	runBrowser(t, base, "")
}

// The same through a relay: the page publishes to the origin and watches on
// a relay, which pulls the stream from the origin.
func TestBrowserWatchesThroughARelay(t *testing.T) {
	origin, base := startNode(t, "-nats-listen", "127.0.0.1:0")
	_, relayBase := startRelay(t, origin.NATSURL())
	runBrowser(t, base, relayBase)
}

func runBrowser(t *testing.T, base, watchBase string) {
	t.Helper()
	var env []string
	if watchBase != "" {
		env = append(env, "WATCH_BASE="+watchBase)
	}
	runBrowserOn(t, base, "browser", env)
}

// runBrowserOn runs publish_watch.mjs on stream with env.
func runBrowserOn(t *testing.T, base, stream string, env []string) {
	t.Helper()
	args := []string{base, stream}
	if shot := os.Getenv("RELAYMESH_SCREENSHOT"); shot != "" {
		args = append(args, shot)
	}
	line := runNodeScriptEnv(t, env, "publish_watch.mjs", args...)
	var res struct {
		OK     bool `json:"ok"`
		Second struct {
			Video struct {
				FramesDecoded int    `json:"framesDecoded"`
				Codec         string `json:"codec"`
			} `json:"video"`
			Audio struct {
				PacketsReceived int `json:"packetsReceived"`
			} `json:"audio"`
		} `json:"second"`
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatalf("unreadable browser result %q: %v", line, err)
	}
	if !res.OK || res.Second.Video.FramesDecoded == 0 || res.Second.Audio.PacketsReceived == 0 {
		t.Fatalf("browser saw %d video frames decoded, %d audio packets", res.Second.Video.FramesDecoded, res.Second.Audio.PacketsReceived)
	}
}

// runNodeScript runs one of test/browser's scripts with node (it drives
// Debian's Chromium through playwright-core) and returns its last output
// line. Missing dependencies fail the test; they never skip it.
func runNodeScript(t *testing.T, script string, args ...string) string {
	t.Helper()
	return runNodeScriptEnv(t, nil, script, args...)
}

func runNodeScriptEnv(t *testing.T, env []string, script string, args ...string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("../../../test/browser", script))
	if err != nil {
		t.Fatal(err)
	}
	for _, need := range []string{"node", "chromium"} {
		if _, err := exec.LookPath(need); err != nil {
			t.Fatalf("%s is not installed: run `make test`, which installs the browser test's dependencies", need)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "node_modules", "playwright-core")); err != nil {
		t.Fatal("test/browser/node_modules is missing: run `make test` (it runs npm ci there)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{path}, args...)...)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	line := strings.TrimSpace(string(out))
	t.Logf("%s: %s", script, line)
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s failed: %v\n%s\n%s", script, err, line, stderr)
	}
	return line[strings.LastIndex(line, "\n")+1:]
}

// Chromium watches a stream that ffmpeg publishes by RTMP with AAC audio:
// it decodes the video and its audio (transcoded to Opus) is not silent.
func TestBrowserWatchesRTMPWithAudio(t *testing.T) {
	if !transcode.Available() {
		t.Fatal(transcode.ErrUnavailable)
	}
	n, base := startNode(t, "-rtmp", "127.0.0.1:0")
	ffmpegRTMP(t, "rtmp://"+n.rtmp.Addr().String()+"/live/obs", 30)
	waitUntil(t, 10*time.Second, "the RTMP stream", func() bool { s, ok := n.Registry().Get("obs"); return ok && len(s.Tracks()) == 2 })
	runBrowserOn(t, base, "obs", []string{"WATCH_ONLY=1"})
}

// Chromium follows a WHEP redirect: the page on the origin watches, the
// origin answers 307 to the relay (the best node for a viewer: a relay
// with room), and the viewer plays there, with relaymesh's own player and
// with medooze's whip-whep WHEPClient (the draft's author's client, which
// resolves the session URL against the URL it first posted to: a
// redirected session's Location is absolute, so its PATCHes and DELETE go
// to the relay). The origin's page then shows the two viewers across the
// cluster, none of them on the origin, in its list and above the tree.
func TestBrowserFollowsAWHEPRedirect(t *testing.T) {
	origin, base := startNode(t, "-nats-listen", "127.0.0.1:0")
	relay, relayBase := startRelay(t, origin.NATSURL(), "-join", origin.cluster.Addr())
	waitUntil(t, 10*time.Second, "the relay in the origin's view of the cluster", func() bool {
		return len(origin.cluster.Members()) == 2 && len(relay.cluster.Members()) == 2
	})
	line := runNodeScript(t, "whep_redirect.mjs", base, "redirected", relayBase)
	var res struct {
		OK           bool `json:"ok"`
		RelayViewers int  `json:"relayViewers"`
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil || !res.OK || res.RelayViewers != 2 {
		t.Fatalf("browser result %q (%v): want both viewers redirected to the relay and playing", line, err)
	}
}
