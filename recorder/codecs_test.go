package recorder

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/mediatest"
)

// playable concatenates a recording's init segment and segments into one
// file, as /vod/ serves it.
func playable(t *testing.T, r *Recorder, m Meta) string {
	t.Helper()
	dir := filepath.Join(r.Dir(), m.Stream, m.ID)
	var all bytes.Buffer
	for _, name := range append([]string{InitName}, segNames(m)...) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	out := filepath.Join(t.TempDir(), "whole.mp4")
	if err := os.WriteFile(out, all.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func segNames(m Meta) []string {
	var out []string
	for _, s := range m.Segments {
		out = append(out, s.Name)
	}
	return out
}

// VP8, VP9, AV1 and H.265, the other video codecs publishers send, are
// recorded into fragmented MP4 too: ffmpeg finds the codec, decodes every
// frame without an error, and the segments are cut at keyframes.
func TestRecordsVP8VP9AV1AndH265(t *testing.T) {
	probed := map[string]string{"vp8": "vp8", "vp9": "vp9", "av1": "av1", "h265": "hevc"}
	for _, codec := range []string{"vp8", "vp9", "av1", "h265"} {
		t.Run(codec, func(t *testing.T) {
			reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 50 * time.Millisecond})
			defer reg.Close()
			r := newRecorder(t, reg, Params{All: true})
			src := newSourceOf(t, reg, "cam", codec)
			waitFor(t, waitLong, "the recording to start", func() bool { _, ok := r.Recording("cam"); return ok })
			src.play(120)
			src.pub.End()
			waitFor(t, waitLong, "the recording to end", func() bool { _, ok := r.Recording("cam"); return !ok })
			m := r.List()[0]
			if m.Codecs[0] != strings.ToUpper(codec) || len(m.Segments) != 2 {
				t.Fatalf("index %+v", m)
			}
			file := playable(t, r, m)
			out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-count_frames",
				"-show_entries", "stream=codec_name,nb_read_frames,width", "-of", "csv=p=0", file).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v", err)
			}
			f := strings.Split(strings.TrimSpace(string(out)), ",")
			if len(f) != 3 || f[0] != probed[codec] || f[1] != "640" {
				t.Fatalf("ffprobe: %q", out)
			}
			if n, _ := strconv.Atoi(f[2]); n != 120 {
				t.Fatalf("%d frames decoded, want 120", n)
			}
			if dec, err := mediatest.Decode(file); err != nil || dec != "" {
				t.Fatalf("decoding: %v\n%s", err, dec)
			}
		})
	}
}
