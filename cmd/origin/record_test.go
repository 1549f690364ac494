package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

type vodList struct {
	Recordings []struct {
		ID        string
		URL       string
		Live      bool
		DurationS float64 `json:"duration_s"`
		Segments  []struct{ Name string }
	}
}

func listVOD(t *testing.T, base string) vodList {
	t.Helper()
	res, err := http.Get(base + "/vod/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var l vodList
	if err := json.NewDecoder(res.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

// kill -9 of a recording origin mid-stream: after a restart on the same
// folder the recording is listed, finished, playable, and short of what
// was sent by at most about one segment (2 s), whatever the publisher's
// keyframe interval: with a GOP of 60 s whose publisher ignores keyframe
// requests, as an RTMP encoder does, the open segment is written in
// fragments of half a segment (before, all of it waited in memory for a
// keyframe, and a kill -9 lost everything since the last one).
func TestRecordingSurvivesKill9(t *testing.T) {
	for _, c := range []struct {
		name string
		spec mediatest.Spec
	}{
		{"GOP 1 s", mediatest.Small},
		{"GOP 60 s", mediatest.Spec{Width: 640, Height: 360, FPS: 30, Seconds: 20, VideoBitrate: "800k", GOP: 1800}},
	} {
		t.Run(c.name, func(t *testing.T) { kill9(t, c.spec) })
	}
}

func kill9(t *testing.T, spec mediatest.Spec) {
	dir := t.TempDir()
	h264, ogg, err := mediatest.Files(spec)
	if err != nil {
		t.Fatal(err)
	}
	aus, _ := whipclient.AccessUnits(h264)
	opus, _ := whipclient.OpusPackets(ogg)
	args := nodeproc.Options{LogDir: t.TempDir(), Args: []string{"-record-dir", dir, "-record-segment", "2s"}}
	first, err := nodeproc.Start(t.Context(), binary, "rec", args)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Kill()
	pub, err := whipclient.Publish(t.Context(), first.Base+"/whip/cam", whipclient.Options{}, aus, opus)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(8 * time.Second)
	first.Kill()
	sent := time.Since(start).Seconds()
	pub.Close()

	second, err := nodeproc.Start(t.Context(), binary, "rec", args)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Kill()
	l := listVOD(t, second.Base)
	if len(l.Recordings) != 1 || l.Recordings[0].Live {
		t.Fatalf("after the restart: %+v", l)
	}
	rec := l.Recordings[0]
	t.Logf("sent %.2f s before kill -9; recording kept %.2f s in %d segments: %.2f s lost", sent, rec.DurationS, len(rec.Segments), sent-rec.DurationS)
	// At most half a segment waits in memory, plus the fragment being
	// written and the time to connect: 2.5 s in all.
	if rec.DurationS < sent-2.5 {
		t.Fatalf("kept %.2f s of %.2f s sent: more than about one segment lost", rec.DurationS, sent)
	}
	if out, err := mediatest.Decode(second.Base + rec.URL); err != nil || out != "" {
		t.Fatalf("decoding the recording after the crash: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir(dir + "/cam/" + rec.ID)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") || strings.HasSuffix(e.Name(), ".part") {
			t.Fatalf("%s left behind after the restart", e.Name())
		}
	}
}
