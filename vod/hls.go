package vod

import (
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/relaymesh/relaymesh/recorder"
)

// servePlaylist writes an HLS media playlist over the recording's fMP4
// segments (RFC 8216 §4.3.2.5 EXT-X-MAP for the init segment). A recording
// still being written is an EVENT playlist without EXT-X-ENDLIST, which
// players reload; a finished one is VOD.
func servePlaylist(w http.ResponseWriter, m *recorder.Meta) {
	target := 1.0
	for _, s := range m.Segments {
		target = max(target, s.DurationS)
	}
	var b strings.Builder
	kind := "VOD"
	if m.Live {
		kind = "EVENT"
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-PLAYLIST-TYPE:%s\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n",
		int(math.Ceil(target)), kind)
	fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s/%s\"\n", m.ID, recorder.InitName)
	for _, s := range m.Segments {
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s/%s\n", s.DurationS, m.ID, s.Name)
	}
	if !m.Live {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write([]byte(b.String()))
}
