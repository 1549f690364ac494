// Package mediatest makes real encoded media for tests and load tools:
// H.264 and Opus encoded once by ffmpeg and cached, so tests send what real
// encoders produce rather than synthetic bytes.
package mediatest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Spec says what to encode.
type Spec struct {
	Width, Height, FPS int
	Seconds            int
	VideoBitrate       string // ffmpeg -b:v, e.g. "2M"
	GOP                int    // frames from one keyframe to the next; 0: FPS (a second)
}

// Small is the test default: 640x360 at 30 fps, 4 s, a keyframe every second.
var Small = Spec{Width: 640, Height: 360, FPS: 30, Seconds: 4, VideoBitrate: "800k"}

// HD is the load tool's 720p30 2 Mbit/s stream.
var HD = Spec{Width: 1280, Height: 720, FPS: 30, Seconds: 10, VideoBitrate: "2M"}

// SD is the load tool's 360p30 600 kbit/s stream.
var SD = Spec{Width: 640, Height: 360, FPS: 30, Seconds: 10, VideoBitrate: "600k"}

var mu sync.Mutex

// Files returns the paths of an H.264 Annex-B file and an Ogg Opus file
// (20 ms packets, one per page) for spec, encoding them on first use into a
// cache folder under the system temp dir.
func Files(spec Spec) (h264, opus string, err error) {
	mu.Lock()
	defer mu.Unlock()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return "", "", fmt.Errorf("ffmpeg is needed to encode test media and is not installed: run `make test` (it installs Debian's ffmpeg) or `apt-get install ffmpeg`")
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("v1 %+v", spec)))
	dir := filepath.Join(os.TempDir(), "relaymesh-media-"+hex.EncodeToString(sum[:6]))
	h264, opus = filepath.Join(dir, "video.h264"), filepath.Join(dir, "audio.ogg")
	if exists(h264) && exists(opus) {
		return h264, opus, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	gop := fmt.Sprint(spec.FPS)
	if spec.GOP > 0 {
		gop = fmt.Sprint(spec.GOP)
	}
	video := []string{"-v", "error", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", spec.Width, spec.Height, spec.FPS),
		"-t", fmt.Sprint(spec.Seconds), "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-preset", "veryfast", "-tune", "zerolatency", "-b:v", spec.VideoBitrate, "-maxrate", spec.VideoBitrate, "-bufsize", spec.VideoBitrate,
		"-g", gop, "-bf", "0", "-x264-params", "keyint=" + gop + ":min-keyint=" + gop + ":scenecut=0:sliced-threads=0",
		"-f", "h264", h264 + ".tmp"}
	audio := []string{"-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", fmt.Sprint(spec.Seconds), "-ac", "2", "-c:a", "libopus", "-b:a", "64k", "-frame_duration", "20",
		"-page_duration", "20000", "-f", "ogg", opus + ".tmp"}
	for _, args := range [][]string{video, audio} {
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("ffmpeg %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if err := os.Rename(h264+".tmp", h264); err != nil {
		return "", "", err
	}
	return h264, opus, os.Rename(opus+".tmp", opus)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// IVF returns the path of an IVF file of spec's picture encoded with codec
// ("vp8", "vp9" or "av1"; a keyframe every second), encoding it on first
// use, for tests of the codecs WebRTC carries besides H.264.
func IVF(spec Spec, codec string) (string, error) {
	enc := map[string][]string{
		"vp8": {"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"},
		"vp9": {"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1"},
		"av1": {"-c:v", "libsvtav1", "-preset", "12"},
	}[codec]
	if enc == nil {
		return "", fmt.Errorf("mediatest: no IVF encoder for %q", codec)
	}
	mu.Lock()
	defer mu.Unlock()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return "", fmt.Errorf("ffmpeg is needed to encode test media and is not installed: run `make test` (it installs Debian's ffmpeg) or `apt-get install ffmpeg`")
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("v1 %s %+v", codec, spec)))
	dir := filepath.Join(os.TempDir(), "relaymesh-media-"+hex.EncodeToString(sum[:6]))
	out := filepath.Join(dir, "video.ivf")
	if exists(out) {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	args := append([]string{"-v", "error", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", spec.Width, spec.Height, spec.FPS),
		"-t", fmt.Sprint(spec.Seconds), "-pix_fmt", "yuv420p", "-b:v", spec.VideoBitrate, "-g", fmt.Sprint(spec.FPS)}, enc...)
	args = append(args, "-f", "ivf", out+".tmp")
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ffmpeg %s: %v: %s", strings.Join(args, " "), err, b)
	}
	return out, os.Rename(out+".tmp", out)
}
