package vod

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/relaymesh/relaymesh/recorder"
)

// servePlaylist writes an HLS media playlist over the recording's fMP4
// segments (RFC 8216 §4.3.2.5 EXT-X-MAP for the init segment). A recording
// still being written is an EVENT playlist without EXT-X-ENDLIST, which
// players reload; a finished one is VOD. The playlist's ?token= goes on
// every segment's URI: a player that cannot set headers fetches the
// segments with the credential it was given for the playlist.
//
// EXT-X-TARGETDURATION must not change while a playlist grows (RFC 8216
// §6.2.1): a live one announces bound, the longest a segment can be, from
// the start; a finished one, its longest segment.
func servePlaylist(w http.ResponseWriter, r *http.Request, m *recorder.Meta, bound time.Duration) {
	suffix := ""
	if tok := r.URL.Query().Get("token"); tok != "" {
		suffix = "?token=" + url.QueryEscape(tok)
	}
	target, independent := 1.0, "#EXT-X-INDEPENDENT-SEGMENTS\n"
	if m.Live {
		target = bound.Seconds()
	}
	for _, s := range m.Segments {
		target = max(target, s.DurationS)
		if s.NoKeyframe {
			independent = "" // RFC 8216 §4.3.5.1: only when every segment starts with one
		}
	}
	var b strings.Builder
	kind := "VOD"
	if m.Live {
		kind = "EVENT"
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-PLAYLIST-TYPE:%s\n#EXT-X-MEDIA-SEQUENCE:0\n%s",
		int(math.Ceil(target)), kind, independent)
	fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s/%s%s\"\n", m.ID, recorder.InitName, suffix)
	for _, s := range m.Segments {
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s/%s%s\n", s.DurationS, m.ID, s.Name, suffix)
	}
	if !m.Live {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write([]byte(b.String()))
}
