package node

import (
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/whipclient"
	"github.com/relaymesh/relaymesh/vod"
)

// recordings reads GET /vod/ of a node.
func recordings(t *testing.T, base string) []vod.Recording {
	t.Helper()
	hc := newHTTPClient(t)
	_, body := do(t, hc, "GET", base+"/vod/", "", "")
	var out struct{ Recordings []vod.Recording }
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("GET /vod/: %v: %s", err, body)
	}
	return out.Recordings
}

// finishedRecording waits for the node's one recording to be finished.
func finishedRecording(t *testing.T, base string) vod.Recording {
	t.Helper()
	return finishedRecordingWithin(t, base, 10*time.Second)
}

func finishedRecordingWithin(t *testing.T, base string, d time.Duration) vod.Recording {
	t.Helper()
	var rec vod.Recording
	waitUntil(t, d, "a finished recording", func() bool {
		list := recordings(t, base)
		if len(list) == 1 && !list[0].Live {
			rec = list[0]
			return true
		}
		return false
	})
	return rec
}

func probeDuration(t *testing.T, url string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url).Output()
	d, perr := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || perr != nil {
		t.Fatalf("ffprobe %s: %v %q", url, err, out)
	}
	return d
}

// A stream published by WHIP for 10 s is recorded: ffprobe finds 10 s of
// H.264 and Opus, and every frame decodes.
func TestWHIPStreamIsRecorded(t *testing.T) {
	video, audio := testMedia(t)
	_, base := startNode(t, "-record-dir", t.TempDir(), "-reconnect-grace", "500ms")
	hc := newHTTPClient(t)
	pub, err := publish(t, hc, base, "rec", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub.send(t, video, audio, 150)
	// Usable while it is being written: what is there so far plays.
	live := recordings(t, base)
	if len(live) != 1 || !live[0].Live || len(live[0].Segments) == 0 {
		t.Fatalf("half way: %+v", live)
	}
	if d := probeDuration(t, base+live[0].URL); d < 2 || d > 5.5 {
		t.Fatalf("half way, the recording plays %.2f s", d)
	}
	pub.send(t, video, audio, 150)
	_ = pub.sess.Delete(t.Context())
	rec := finishedRecording(t, base)
	// Audio and video start together: the tracks were aligned on arrival.
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=start_time", "-of", "csv=p=0", base+rec.URL).Output()
	starts := strings.Fields(string(out))
	if err != nil || len(starts) != 2 {
		t.Fatalf("ffprobe start times: %q %v", out, err)
	}
	v0, _ := strconv.ParseFloat(starts[0], 64)
	a0, _ := strconv.ParseFloat(starts[1], 64)
	if math.Abs(v0-a0) > 0.1 {
		t.Fatalf("video starts at %.3f s, audio at %.3f s: out of sync", v0, a0)
	}
	if d := probeDuration(t, base+rec.URL); math.Abs(d-10) > 0.5 {
		t.Fatalf("recorded %.2f s of 10 s sent", d)
	}
	if strings.Join(rec.Codecs, ",") != "H264,opus" {
		t.Fatalf("codecs %v", rec.Codecs)
	}
	if out, err := mediatest.Decode(base + rec.URL); err != nil || out != "" {
		t.Fatalf("decoding the recording: %v\n%s", err, out)
	}
	if v := metricSum(t, hc, base, "relaymesh_recording_bytes_total"); v < float64(rec.Size) {
		t.Fatalf("relaymesh_recording_bytes_total %v, recording is %d bytes", v, rec.Size)
	}
}

// Recording on demand: with -record-all=false nothing is recorded until
// POST /api/record/{stream}; DELETE stops it. Unknown streams get 404.
func TestRecordingThroughTheAPI(t *testing.T) {
	video, audio := testMedia(t)
	_, base := startNode(t, "-record-dir", t.TempDir(), "-record-all=false")
	hc := newHTTPClient(t)
	if res, body := do(t, hc, "POST", base+"/api/record/nosuch", "", ""); res.StatusCode != 404 || !strings.Contains(body, "not on this node") {
		t.Fatalf("record an unknown stream: %d %q", res.StatusCode, body)
	}
	pub, err := publish(t, hc, base, "api", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub.send(t, video, audio, 30)
	if len(recordings(t, base)) != 0 {
		t.Fatal("recorded without being asked (-record-all=false)")
	}
	if res, body := do(t, hc, "POST", base+"/api/record/api", "", ""); res.StatusCode != 202 || !strings.Contains(body, `"id"`) {
		t.Fatalf("start recording: %d %q", res.StatusCode, body)
	}
	pub.send(t, video, audio, 90)
	if res, _ := do(t, hc, "DELETE", base+"/api/record/api", "", ""); res.StatusCode != 204 {
		t.Fatalf("stop recording: %d", res.StatusCode)
	}
	list := recordings(t, base)
	if len(list) != 1 || list[0].Live || list[0].DurationS < 2 {
		t.Fatalf("after stop: %+v", list)
	}
	if res, _ := do(t, hc, "DELETE", base+"/api/record/api", "", ""); res.StatusCode != 404 {
		t.Fatalf("stop twice: %d, want 404", res.StatusCode)
	}
}

// A relay records the stream it carries; when its link to the parent is
// re-made (the parent dropped it), the recording goes on as one.
func TestRelayRecordingSurvivesReparenting(t *testing.T) {
	video, audio := testMedia(t)
	origin, baseO := startNode(t, "-node-id", "rec-origin", "-nats-listen", "127.0.0.1:0")
	_, baseR := startRelay(t, origin.NATSURL(), "-node-id", "rec-relay", "-record-dir", t.TempDir(), "-reconnect-grace", "2s")
	hc := newHTTPClient(t)
	pub, v := publishAndWatch(t, hc, baseO, baseR, "relrec")
	pub.warmUp(t, video, audio, v)
	pub.send(t, video, audio, 90)
	origin.whepEP.CloseAll() // the relay re-links
	pub.send(t, video, audio, 90)
	_ = pub.sess.Delete(t.Context())
	waitUntil(t, 15*time.Second, "the relay's recording to end", func() bool {
		list := recordings(t, baseR)
		return len(list) > 0 && !list[0].Live
	})
	list := recordings(t, baseR)
	if len(list) != 1 || list[0].DurationS < 5 {
		t.Fatalf("relay recordings %+v: want one of about 6 s", list)
	}
	if out, err := mediatest.Decode(baseR + list[0].URL); err != nil || out != "" {
		t.Fatalf("decoding the relay's recording: %v\n%s", err, out)
	}
}

// Chromium plays a recording's whole-file MP4 in a <video> element:
// currentTime advances, and a seek to 6 s lands and plays on.
func TestBrowserPlaysRecording(t *testing.T) {
	video, audio := testMedia(t)
	_, base := startNode(t, "-record-dir", t.TempDir(), "-reconnect-grace", "500ms")
	hc := newHTTPClient(t)
	pub, err := publish(t, hc, base, "vodplay", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub.send(t, video, audio, 300)
	_ = pub.sess.Delete(t.Context())
	rec := finishedRecording(t, base)
	out := runNodeScript(t, "play_vod.mjs", base+rec.URL)
	var res struct {
		OK                              bool
		Error                           string
		Duration, Played, Landed, After float64
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.OK {
		t.Fatalf("Chromium did not play the recording: %s (%v)", out, err)
	}
	if math.Abs(res.Duration-10) > 0.5 {
		t.Fatalf("Chromium reads a duration of %.2f s, want 10", res.Duration)
	}
	t.Logf("Chromium: duration %.2f s, played to %.2f s, seek landed at %.2f s, then %.2f s", res.Duration, res.Played, res.Landed, res.After)
}
