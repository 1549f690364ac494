package vod

import (
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/recorder"
)

// ivfFrames reads the frames of mediatest's IVF file of codec.
func ivfFrames(codec string) ([][]byte, error) {
	path, err := mediatest.IVF(mediatest.Small, codec)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		frame, _, err := r.ParseNextFrame()
		if err != nil {
			return out, nil
		}
		out = append(out, frame)
	}
}

// probe runs ffprobe on url for the codec and the decoded frame count of
// its first stream of kind (v or a).
func probe(t *testing.T, url, kind string) (codec string, frames int) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", kind+":0", "-show_entries", "stream=codec_name,nb_read_frames",
		"-of", "default=noprint_wrappers=1", url).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", url, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "codec_name":
			codec = v
		case "nb_read_frames":
			frames, _ = strconv.Atoi(v)
		}
	}
	return codec, frames
}

// A recording's video comes out as IVF (VP8, VP9, AV1) and its audio as
// Ogg Opus: ffmpeg decodes every frame of them without an error, all the
// video frames that were sent, and the audio of the whole recording (50
// packets a second, less what preceded the first keyframe).
func TestIVFAndOggExports(t *testing.T) {
	need(t, "ffprobe")
	for _, codec := range []string{"vp8", "vp9", "av1"} {
		t.Run(codec, func(t *testing.T) {
			_, srv, m := recordedAs(t, 4, codec)
			base := srv.URL + "/vod/cam/" + m.ID
			if c, n := probe(t, base+".ivf", "v"); c != codec || n != 120 {
				t.Fatalf("the IVF export has %d frames of %s, want 120 of %s", n, c, codec)
			}
			if c, n := probe(t, base+".ogg", "a"); c != "opus" || math.Abs(float64(n)-200) > 10 {
				t.Fatalf("the Ogg export has %d packets of %s, want about 200 of opus", n, c)
			}
			for _, ext := range []string{".ivf", ".ogg"} {
				if dec, err := mediatest.Decode(base + ext); err != nil || dec != "" {
					t.Fatalf("decoding %s: %v\n%s", ext, err, dec)
				}
			}
		})
	}
}

// An H.264 recording has no IVF view: a 404 that says what IVF carries.
func TestNoIVFOfH264(t *testing.T) {
	_, srv, m := recorded(t, 2)
	res, err := http.Get(srv.URL + "/vod/cam/" + m.ID + ".ivf")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "VP8, VP9 and AV1") {
		t.Fatalf("%d %q", res.StatusCode, body)
	}
}

// A VP8 recording ('vp08' in MP4) is served whole, and found again with
// its codec when the node restarts.
func TestVP8RecordingServedAndRebuilt(t *testing.T) {
	need(t, "ffprobe")
	rec, srv, m := recordedAs(t, 2, "vp8")
	if c, n := probe(t, srv.URL+"/vod/cam/"+m.ID+".mp4", "v"); c != "vp8" || n != 60 {
		t.Fatalf("the MP4 has %d frames of %s, want 60 of vp8", n, c)
	}
	dir := rec.Dir()
	rec.Close()
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	again, err := recorder.New(recorder.Params{Dir: dir, Registry: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	list := again.List()
	if len(list) != 1 || strings.Join(list[0].Codecs, ",") != "VP8,opus" {
		t.Fatalf("after a restart: %+v", list)
	}
}
