package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// recordKind is one kind of publisher whose recording is measured.
type recordKind struct {
	name string
	// publish publishes stream to the origin for d and returns a function
	// that stops it (and waits for it).
	publish func(ctx context.Context, o *nodeproc.Proc, rtmp, rtsp, stream string, d time.Duration) (stop func(), err error)
}

func recordKinds() []recordKind {
	pion := func(spec mediatest.Spec) func(context.Context, *nodeproc.Proc, string, string, string, time.Duration) (func(), error) {
		return func(ctx context.Context, o *nodeproc.Proc, _, _, stream string, _ time.Duration) (func(), error) {
			h264, ogg, err := mediatest.Files(spec)
			if err != nil {
				return nil, err
			}
			aus, _ := whipclient.AccessUnits(h264)
			opus, _ := whipclient.OpusPackets(ogg)
			p, err := whipclient.Publish(ctx, o.Base+"/whip/"+stream, whipclient.Options{}, aus, opus)
			if err != nil {
				return nil, err
			}
			return p.Close, nil
		}
	}
	ffmpeg := func(format string) func(context.Context, *nodeproc.Proc, string, string, string, time.Duration) (func(), error) {
		return func(ctx context.Context, _ *nodeproc.Proc, rtmp, rtsp, stream string, d time.Duration) (func(), error) {
			out := []string{"-f", "flv", "rtmp://" + rtmp + "/live/" + stream}
			if format == "rtsp" {
				out = []string{"-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://" + rtsp + "/" + stream}
			}
			// An encoder's long GOP (10 s): RTMP and RTSP publishers
			// cannot be asked for keyframes.
			args := append([]string{"-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
				"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", strconv.Itoa(int(d.Seconds()) + 1),
				"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "300", "-b:v", "800k",
				"-c:a", "aac", "-b:a", "64k"}, out...)
			cmd := exec.CommandContext(ctx, "ffmpeg", args...)
			if err := cmd.Start(); err != nil {
				return nil, fmt.Errorf("ffmpeg: %w", err)
			}
			return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
		}
	}
	return []recordKind{
		{"pion H.264, GOP 1 s", pion(mediatest.Small)},
		{"pion H.264, GOP 60 s, requests ignored", pion(mediatest.Spec{Width: 640, Height: 360, FPS: 30, Seconds: 20, VideoBitrate: "800k", GOP: 1800})},
		{"RTMP ffmpeg, GOP 10 s", ffmpeg("rtmp")},
		{"RTSP ffmpeg, GOP 10 s", ffmpeg("rtsp")},
	}
}

// runRecord measures each kind of publisher's recording: 12 s published
// with nobody watching, then what is kept of 8 s after a kill -9.
// (Chromium's figures come from TestBrowserPublisherIsRecordedWithNoViewer.)
func runRecord(ctx context.Context, originBin string) error {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		return errors.New("ffmpeg and ffprobe are needed: apt-get install ffmpeg")
	}
	for _, k := range recordKinds() {
		if err := recordOne(ctx, originBin, k); err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
	}
	return nil
}

type recordNode struct {
	*nodeproc.Proc
	rtmp, rtsp string
}

func startRecorder(ctx context.Context, bin, dir, logs string) (*recordNode, error) {
	rtmp, rtsp := "127.0.0.1:"+strconv.Itoa(freePort()), "127.0.0.1:"+strconv.Itoa(freePort())
	p, err := nodeproc.Start(ctx, bin, "origin", nodeproc.Options{LogDir: logs, Args: []string{"-record-dir", dir,
		"-rtmp", rtmp, "-rtsp", rtsp, "-rtsp-udp", "", "-reconnect-grace", "1s", "-log-level", "warn"}})
	if err != nil {
		return nil, err
	}
	return &recordNode{Proc: p, rtmp: rtmp, rtsp: rtsp}, nil
}

type vodRecording struct {
	ID        string  `json:"id"`
	Stream    string  `json:"stream"`
	Live      bool    `json:"live"`
	DurationS float64 `json:"duration_s"`
	URL       string  `json:"url"`
}

func vodList(base string) ([]vodRecording, error) {
	res, err := http.Get(base + "/vod/")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var l struct{ Recordings []vodRecording }
	return l.Recordings, json.NewDecoder(res.Body).Decode(&l)
}

func recordOne(ctx context.Context, bin string, k recordKind) error {
	logs, err := os.MkdirTemp("", "relaymesh-record-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logs)
	const published = 12 * time.Second
	node, err := startRecorder(ctx, bin, logs+"/a", logs)
	if err != nil {
		return err
	}
	defer node.Kill()
	stop, err := k.publish(ctx, node.Proc, node.rtmp, node.rtsp, "rec", published)
	if err != nil {
		return err
	}
	start := time.Now()
	listed := time.Duration(-1)
	for time.Since(start) < published {
		if l, _ := vodList(node.Base); listed < 0 && len(l) == 1 && l[0].Live {
			listed = time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	var rec vodRecording
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if l, _ := vodList(node.Base); len(l) == 1 && !l[0].Live {
			rec = l[0]
			break
		}
		if time.Now().After(end) {
			return errors.New("the recording did not finish within 20 s of the end")
		}
	}
	frames, errLines := decode(node.Base + rec.URL)
	node.Kill()

	// kill -9 after 8 s, and a restart on the same folder.
	const before = 8 * time.Second
	node, err = startRecorder(ctx, bin, logs+"/b", logs)
	if err != nil {
		return err
	}
	stop, err = k.publish(ctx, node.Proc, node.rtmp, node.rtsp, "rec", before+2*time.Second)
	if err != nil {
		return err
	}
	sentFrom := time.Now()
	time.Sleep(before)
	node.Kill()
	sent := time.Since(sentFrom).Seconds()
	stop()
	node, err = startRecorder(ctx, bin, logs+"/b", logs)
	if err != nil {
		return err
	}
	defer node.Kill()
	l, err := vodList(node.Base)
	if err != nil || len(l) != 1 {
		return fmt.Errorf("after kill -9 and a restart: %d recordings (%v)", len(l), err)
	}
	fmt.Printf("record %s: published %.1f s, recorded %.2f s, %d video frames decoded (%d ffmpeg error lines), listed at /vod/ %.1f s after publishing began; kill -9 after %.1f s: %.2f s kept (%.2f s lost)\n",
		k.name, published.Seconds(), rec.DurationS, frames, errLines, listed.Seconds(), sent, l[0].DurationS, sent-l[0].DurationS)
	return nil
}

// decode counts a recording's video frames with ffprobe and what
// `ffmpeg -v error` says about decoding all of it.
func decode(url string) (frames, errLines int) {
	out, _ := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", url).Output()
	frames, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	msg, _ := exec.Command("ffmpeg", "-v", "error", "-i", url, "-enc_time_base", "-1", "-f", "null", "-").CombinedOutput()
	if s := strings.TrimSpace(string(msg)); s != "" {
		errLines = strings.Count(s, "\n") + 1
	}
	return frames, errLines
}
