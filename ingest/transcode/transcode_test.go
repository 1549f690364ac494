package transcode

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// adts splits an ADTS stream into raw AAC access units and derives the
// AudioSpecificConfig from its first header (ISO 14496-3 §1.6.2.1).
func adts(t *testing.T, b []byte) (asc []byte, aus [][]byte) {
	t.Helper()
	for len(b) >= 7 {
		if b[0] != 0xff || b[1]&0xf0 != 0xf0 {
			t.Fatal("not ADTS")
		}
		n := int(b[3]&0x03)<<11 | int(b[4])<<3 | int(b[5])>>5
		hdr := 7
		if b[1]&1 == 0 {
			hdr = 9 // with CRC
		}
		if asc == nil {
			profile := (b[2] >> 6) + 1
			freq := (b[2] >> 2) & 0x0f
			ch := (b[2]&1)<<2 | b[3]>>6
			v := uint16(profile)<<11 | uint16(freq)<<7 | uint16(ch)<<3
			asc = binary.BigEndian.AppendUint16(nil, v)
		}
		aus = append(aus, b[hdr:n])
		b = b[n:]
	}
	return asc, aus
}

// Three seconds of a 440 Hz tone in AAC at 44.1 kHz become 150 Opus
// packets of 20 ms at 48 kHz, and ffmpeg hears the tone in them.
func TestAACToOpusKeepsTheSound(t *testing.T) {
	if !Available() {
		t.Fatal(ErrUnavailable)
	}
	dir := t.TempDir()
	aac := filepath.Join(dir, "tone.aac")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "3",
		"-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "adts", aac).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	raw, _ := os.ReadFile(aac)
	asc, aus := adts(t, raw)
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
