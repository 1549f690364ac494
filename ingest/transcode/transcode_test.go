package transcode

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/relaymesh/relaymesh/internal/mediatest"
)

// Three seconds of a 440 Hz tone in AAC at 44.1 kHz become 150 Opus
// packets of 20 ms at 48 kHz, and ffmpeg hears the tone in them.
func TestAACToOpusKeepsTheSound(t *testing.T) {
	if !Available() {
		t.Fatal(ErrUnavailable)
	}
	dir := t.TempDir()
	asc, aus, err := mediatest.AAC(mediatest.Spec{Seconds: 3})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Params{Config: asc})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ogg := filepath.Join(dir, "tone.ogg")
	w, err := oggwriter.New(ogg, 48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, au := range aus {
		pkts, err := tr.Push(au)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			if err := w.WriteRTP(&rtp.Packet{Header: rtp.Header{Timestamp: uint32(n * FrameSamples)}, Payload: p}); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	_ = w.Close()
	if n < 145 || n > 156 { // the AAC encoder adds priming and padding
		t.Fatalf("%d Opus packets for 3 s, want about 150", n)
	}
	out, _ := exec.Command("ffmpeg", "-i", ogg, "-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	m := regexp.MustCompile(`mean_volume: (-?[0-9.]+) dB`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no volume measured:\n%s", out)
	}
	if v, _ := strconv.ParseFloat(string(m[1]), 64); v < -40 {
		t.Fatalf("mean volume %.1f dB: silence, not the tone", v)
	}
	if _, err := tr.Push([]byte{0xde, 0xad, 0xbe, 0xef}); err == nil {
		t.Log("a garbage access unit was decoded without error (FFmpeg is lenient)")
	}
	if _, err := New(Params{Config: []byte{0}}); err == nil {
		t.Fatal("a 1-byte AAC configuration was accepted")
	}
}

// Whatever bytes arrive as AAC access units, the transcoder answers with
// packets or an error, never a crash (FFmpeg's decoder behind cgo).
func FuzzAACToOpus(f *testing.F) {
	if !Available() {
		f.Fatal(ErrUnavailable)
	}
	f.Add([]byte{0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c})
	f.Add([]byte{0xde, 0xad, 0xbe, 0xef})
	f.Fuzz(func(t *testing.T, au []byte) {
		tr, err := New(Params{Config: []byte{0x12, 0x10}}) // AAC-LC, 44.1 kHz, stereo
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		_, _ = tr.Push(au)
		_, _ = tr.Push(au)
	})
}
