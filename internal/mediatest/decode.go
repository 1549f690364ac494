package mediatest

import (
	"os/exec"
	"strings"
)

// Decode decodes the media at url (a file or an HTTP URL) with ffmpeg,
// as a player would, and returns what ffmpeg reported at level error:
// nothing for a recording that decodes cleanly. The frames keep the
// recording's own clock (-enc_time_base -1): at ffmpeg's default, the
// frame rate's, two frames less than a frame's time apart share a tick
// and the null muxer reports them. RTMP's millisecond timestamps (33, 33,
// 34 ms) do that every third frame when a reconnect's gap puts them half
// a tick off, and a browser's unevenly timed frames do it at random; the
// recording's timestamps are increasing all the same, and two frames
// with truly one timestamp are still reported.
func Decode(url string) (string, error) {
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", url, "-enc_time_base", "-1", "-f", "null", "-").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
