package mediatest

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// A fragmented MP4 of 30 fps video with RTMP's millisecond timestamps
// (33, 33, 34 ms apart), starting half a frame tick off as a reconnect's
// gap can leave it, decodes clean: at ffmpeg's default encoder clock (the
// frame rate's) every third frame would share a tick with the one before
// and be reported, though the file's timestamps all increase.
func TestDecodeKeepsTheRecordingsClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "phase.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:d=2",
		"-vf", "setpts='(floor(N*100/3)+3300)/1000/TB'", "-fps_mode", "passthrough",
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-video_track_timescale", "90000",
		"-movflags", "frag_keyframe+empty_moov", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg (make test installs Debian's): %v\n%s", err, out)
	}
	if rep, err := Decode(path); err != nil || rep != "" {
		t.Fatalf("Decode: %v\n%s", err, rep)
	}
	if _, err := Decode(filepath.Join(t.TempDir(), "missing.mp4")); err == nil {
		t.Fatal("Decode of a missing file: no error")
	}
}
