package mediatest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// AAC returns the AudioSpecificConfig and raw access units of spec's
// length of a 440 Hz tone encoded by ffmpeg in AAC-LC at 44.1 kHz stereo
// (ADTS on disk, cached), as an RTMP encoder sends it.
func AAC(spec Spec) (asc []byte, aus [][]byte, err error) {
	mu.Lock()
	defer mu.Unlock()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return nil, nil, fmt.Errorf("ffmpeg is needed to encode test media and is not installed: run `make test` (it installs Debian's ffmpeg)")
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("relaymesh-media-aac-%d", spec.Seconds))
	path := filepath.Join(dir, "tone.aac")
	if !exists(path) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, err
		}
		args := []string{"-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", fmt.Sprint(spec.Seconds),
			"-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "adts", path + ".tmp"}
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("ffmpeg %s: %v: %s", strings.Join(args, " "), err, out)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return nil, nil, err
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return ADTS(b)
}

// ADTS splits an ADTS stream into raw AAC access units and derives the
// AudioSpecificConfig from its first header (ISO 14496-3 §1.6.2.1).
func ADTS(b []byte) (asc []byte, aus [][]byte, err error) {
	for len(b) >= 7 {
		if b[0] != 0xff || b[1]&0xf0 != 0xf0 {
			return nil, nil, errors.New("not ADTS")
		}
		n := int(b[3]&0x03)<<11 | int(b[4])<<3 | int(b[5])>>5
		hdr := 7
		if b[1]&1 == 0 {
			hdr = 9 // with CRC
		}
		if n < hdr || n > len(b) {
			return nil, nil, errors.New("truncated ADTS frame")
		}
		if asc == nil {
			profile := (b[2] >> 6) + 1
			freq := (b[2] >> 2) & 0x0f
			ch := (b[2]&1)<<2 | b[3]>>6
			asc = binary.BigEndian.AppendUint16(nil, uint16(profile)<<11|uint16(freq)<<7|uint16(ch)<<3)
		}
		aus = append(aus, b[hdr:n])
		b = b[n:]
	}
	return asc, aus, nil
}
