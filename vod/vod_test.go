package vod

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/whipclient"
	"github.com/relaymesh/relaymesh/recorder"
)

// recorded makes a finished recording of seconds of real H.264 + Opus and
// serves it.
func recorded(t *testing.T, seconds int) (*recorder.Recorder, *httptest.Server, recorder.Meta) {
	t.Helper()
	return recordedAs(t, seconds, "h264")
}

// recordedAs is recorded with the video in codec: h264, or vp8, vp9, av1.
func recordedAs(t *testing.T, seconds int, codec string) (*recorder.Recorder, *httptest.Server, recorder.Meta) {
	t.Helper()
	h264, ogg, err := mediatest.Files(mediatest.Small)
	if err != nil {
		t.Fatal(err)
	}
	aus, _ := whipclient.AccessUnits(h264)
	opus, _ := whipclient.OpusPackets(ogg)
	mime, pay := "video/H264", rtp.Payloader(&codecs.H264Payloader{})
	if codec != "h264" {
		if aus, err = ivfFrames(codec); err != nil {
			t.Fatal(err)
		}
		mime = map[string]string{"vp8": "video/VP8", "vp9": "video/VP9", "av1": "video/AV1"}[codec]
		pay = map[string]rtp.Payloader{"vp8": &codecs.VP8Payloader{EnablePictureID: true}, "vp9": &codecs.VP9Payloader{}, "av1": &codecs.AV1Payloader{}}[codec]
	}
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 50 * time.Millisecond})
	t.Cleanup(reg.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rec, err := recorder.New(recorder.Params{Dir: t.TempDir(), Registry: reg, All: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.Close)
	pub, _ := reg.Publish("cam")
	v := pub.Track(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: fanout.Codec{MimeType: mime, ClockRate: 90000}})
	a := pub.Track(fanout.TrackParams{ID: "audio", Kind: fanout.KindAudio, Codec: fanout.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2}})
	pub.Settle()
	wait(t, "the recording to start", func() bool { _, ok := rec.Recording("cam"); return ok })
	vp := rtp.NewPacketizer(1200, 102, 1, pay, rtp.NewRandomSequencer(), 90000)
	ap := rtp.NewPacketizer(1200, 111, 2, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	for f, n := 0, 0; f < seconds*30; f++ {
		for _, p := range vp.Packetize(aus[f%len(aus)], 3000) {
			v.Write(&fanout.Packet{Header: p.Header, Payload: p.Payload})
		}
		for ; n*3 < (f+1)*5; n++ {
			for _, p := range ap.Packetize(opus[n%len(opus)], 960) {
				a.Write(&fanout.Packet{Header: p.Header, Payload: p.Payload})
			}
		}
		for v.Backlog()+a.Backlog() > 0 { // the recorder's pace, not a sleep's: nothing is dropped for it
			time.Sleep(100 * time.Microsecond)
		}
	}
	pub.End()
	wait(t, "the recording to end", func() bool { _, ok := rec.Recording("cam"); return !ok })
	mux := http.NewServeMux()
	(&Server{Rec: rec, Log: log}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return rec, srv, rec.List()[0]
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s is needed (make test installs Debian's ffmpeg): %v", tool, err)
	}
}

// ffprobe reads the whole-recording MP4 over HTTP as a player would: the
// duration is what was sent, the codecs are right, and every frame decodes.
func TestWholeRecordingPlays(t *testing.T) {
	need(t, "ffprobe")
	_, srv, m := recorded(t, 10)
	url := srv.URL + "/vod/cam/" + m.ID + ".mp4"
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name", "-of", "json", url).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var probe struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		}
		Format struct{ Duration string }
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatal(err)
	}
	d, _ := strconv.ParseFloat(probe.Format.Duration, 64)
	if math.Abs(d-10) > 0.5 || len(probe.Streams) != 2 || probe.Streams[0].CodecName != "h264" || probe.Streams[1].CodecName != "opus" {
		t.Fatalf("ffprobe: %s", out)
	}
	dec, err := mediatest.Decode(url)
	if err != nil || dec != "" {
		t.Fatalf("decoding the recording: %v\n%s", err, dec)
	}
	frames, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", url).Output()
	if n, _ := strconv.Atoi(strings.TrimSpace(string(frames))); err != nil || n != 300 {
		t.Fatalf("%s video frames decoded, want 300 (%v)", frames, err)
	}
}

// HLS: the playlist lists every segment after the init segment, and ffmpeg
// reads it through.
func TestHLSPlaylist(t *testing.T) {
	need(t, "ffprobe")
	_, srv, m := recorded(t, 4)
	res, err := http.Get(srv.URL + "/vod/cam/" + m.ID + ".m3u8")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	pl := string(body)
	if res.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" || !strings.Contains(pl, `#EXT-X-MAP:URI="`+m.ID+`/init.mp4"`) ||
		strings.Count(pl, "#EXTINF:") != len(m.Segments) || !strings.HasSuffix(pl, "#EXT-X-ENDLIST\n") {
		t.Fatalf("playlist:\n%s", pl)
	}
	// A player given ?token= for the playlist fetches the segments with it.
	res, err = http.Get(srv.URL + "/vod/cam/" + m.ID + ".m3u8?token=a%2Bb")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if n := strings.Count(string(body), "?token=a%2Bb"); n != len(m.Segments)+1 {
		t.Fatalf("%d URIs carry the token, want %d (the segments and init):\n%s", n, len(m.Segments)+1, body)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", srv.URL+"/vod/cam/"+m.ID+".m3u8").Output()
	if d, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err != nil || math.Abs(d-4) > 0.5 {
		t.Fatalf("ffprobe of the playlist: %q %v", out, err)
	}
}

// Bad requests get a 4xx that says what was wrong; a missing segment file
// is served around, never a crash.
func TestBadRequests(t *testing.T) {
	rec, srv, m := recorded(t, 4)
	whole := srv.URL + "/vod/cam/" + m.ID + ".mp4"
	res, _ := http.Get(whole)
	size := res.ContentLength
	res.Body.Close()
	cases := []struct {
		method, path string
		header       [2]string
		status       int
	}{
		{"GET", "/vod/cam/..%2F..%2Fetc%2Fpasswd", [2]string{}, 400},
		{"GET", "/vod/..%2Fsecret/" + m.ID, [2]string{}, 400},
		{"GET", "/vod/cam/" + m.ID + "/..%2F..%2Findex.json", [2]string{}, 400},
		{"GET", "/vod/cam/20200101T000000Z.mp4", [2]string{}, 404},
		{"GET", "/vod/cam/" + m.ID + ".avi", [2]string{}, 404},
		{"GET", "/vod/cam/" + m.ID + ".mp4", [2]string{"Range", fmt.Sprintf("bytes=%d-", size+10)}, 416},
		{"GET", "/vod/cam/" + m.ID + ".mp4", [2]string{"Range", "bytes=100-199"}, 206},
		{"DELETE", "/vod/cam/20200101T000000Z", [2]string{}, 404},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		if c.header[0] != "" {
			req.Header.Set(c.header[0], c.header[1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status || (c.status >= 400 && c.status != 416 && len(bytes.TrimSpace(body)) < 10) {
			t.Errorf("%s %s %v: %d %q, want %d with a sentence", c.method, c.path, c.header, res.StatusCode, body, c.status)
		}
		if c.status == 206 && len(body) != 100 {
			t.Errorf("range 100-199 gave %d bytes", len(body))
		}
	}
	// A segment deleted behind the server's back: the rest is served (and
	// the segment index loses its 12-byte reference).
	_, dir, _ := rec.Get("cam", m.ID)
	if err := os.Remove(filepath.Join(dir, m.Segments[1].Name)); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(whole)
	if err != nil || res.StatusCode != 200 || res.ContentLength != size-m.Segments[1].Size-12 {
		t.Fatalf("after a segment was deleted: %v %v, length %d want %d", res.StatusCode, err, res.ContentLength, size-m.Segments[1].Size-12)
	}
	res.Body.Close()
	// DELETE removes it for good.
	req, _ := http.NewRequest("DELETE", srv.URL+"/vod/cam/"+m.ID, nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 204 || len(rec.List()) != 0 {
		t.Fatalf("DELETE: %v %v, %d left", res.StatusCode, err, len(rec.List()))
	}
}

// A live recording's playlist announces the longest a segment can be from
// its first segment on, so EXT-X-TARGETDURATION never changes while it
// grows (RFC 8216 §6.2.1); a finished one has its longest segment's.
func TestLivePlaylistTargetDurationIsFixed(t *testing.T) {
	bound := 4100 * time.Millisecond // 2 s segments, cut at twice that when no keyframe comes
	target := func(m recorder.Meta) string {
		rec := httptest.NewRecorder()
		servePlaylist(rec, httptest.NewRequest("GET", "/vod/cam/x.m3u8", nil), &m, bound)
		for _, l := range strings.Split(rec.Body.String(), "\n") {
			if v, ok := strings.CutPrefix(l, "#EXT-X-TARGETDURATION:"); ok {
				return v
			}
		}
		return ""
	}
	seg := func(d float64) recorder.Segment { return recorder.Segment{Name: "00000001.m4s", DurationS: d} }
	live := recorder.Meta{ID: "x", Live: true, Segments: []recorder.Segment{seg(2)}}
	if got := target(live); got != "5" {
		t.Fatalf("live with one 2 s segment: target %s, want 5 (the bound, from the start)", got)
	}
	live.Segments = append(live.Segments, seg(4.05))
	if got := target(live); got != "5" {
		t.Fatalf("live after a 4.05 s segment: target %s, want 5 still", got)
	}
	done := recorder.Meta{ID: "x", Segments: []recorder.Segment{seg(2), seg(2.1)}}
	if got := target(done); got != "3" {
		t.Fatalf("finished: target %s, want 3 (its longest segment)", got)
	}
}
