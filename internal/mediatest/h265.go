package mediatest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pion/webrtc/v4/pkg/media/h265reader"
)

// H265 returns the path of an H.265 Annex-B file of spec's picture (Main
// profile, a keyframe every second, no B-frames, VPS, SPS and PPS before
// every keyframe as WebRTC senders do), encoding it with libx265 on first
// use.
func H265(spec Spec) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return "", fmt.Errorf("ffmpeg is needed to encode test media and is not installed: run `make test` (it installs Debian's ffmpeg) or `apt-get install ffmpeg`")
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("v1 h265 %+v", spec)))
	dir := filepath.Join(os.TempDir(), "relaymesh-media-"+hex.EncodeToString(sum[:6]))
	out := filepath.Join(dir, "video.h265")
	if exists(out) {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	gop := fmt.Sprint(spec.FPS)
	args := []string{"-v", "error", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", spec.Width, spec.Height, spec.FPS),
		"-t", fmt.Sprint(spec.Seconds), "-pix_fmt", "yuv420p", "-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency",
		"-b:v", spec.VideoBitrate, "-g", gop,
		"-x265-params", "log-level=error:bframes=0:keyint=" + gop + ":min-keyint=" + gop + ":scenecut=0:repeat-headers=1",
		"-f", "hevc", out + ".tmp"}
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ffmpeg %s: %v: %s", strings.Join(args, " "), err, b)
	}
	return out, os.Rename(out+".tmp", out)
}

// H265AccessUnits splits an H.265 Annex-B file into access units, each
// Annex-B framed (ITU-T H.265 §7.4.2.4.4: a unit starts at a parameter
// set, an AUD or a prefix SEI after a picture, or at the first slice of a
// new picture).
func H265AccessUnits(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := h265reader.NewReaderWithOptions(f, h265reader.WithIncludeSEI(true))
	if err != nil {
		return nil, err
	}
	var out [][]byte
	var cur []byte
	vcl := false
	flush := func() {
		if vcl {
			out = append(out, cur)
		}
		cur, vcl = nil, false
	}
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		n := nal.Data
		if len(n) < 3 {
			continue
		}
		switch t := nal.NalUnitType; {
		case t < 32: // a slice; first_slice_segment_in_pic_flag is the first bit after the header
			if vcl && n[2]&0x80 != 0 {
				flush()
			}
			vcl = true
		case t >= 32 && t <= 35 || t == 39: // VPS, SPS, PPS, AUD, prefix SEI
			if vcl {
				flush()
			}
		}
		cur = append(append(cur, 0, 0, 0, 1), n...)
	}
	flush()
	if len(out) == 0 {
		return nil, errors.New("no H.265 pictures in " + path)
	}
	return out, nil
}
