package node

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/relaymesh/relaymesh/internal/mediatest"
)

// firstH265Types returns the NAL unit types the viewer's video began with,
// up to and including its first random access picture (IDR, CRA, BLA): a
// single unit's type, the first unit's of an aggregation packet (RFC 7798
// §4.4.2: its 16-bit size, then its header), the original type of a
// fragment's start (§4.4.3).
func firstH265Types(v *viewer) []int {
	var types []int
	for _, p := range v.packets("video") {
		h := p.head
		t := int(h[0] >> 1 & 0x3f)
		switch t {
		case 48:
			t = int(h[4] >> 1 & 0x3f)
		case 49:
			if h[2]&0x80 == 0 {
				continue
			}
			t = int(h[2] & 0x3f)
		}
		if len(types) == 0 && t < 16 {
			// Delta pictures before the viewer's first keyframe or sets
			// (it joined mid-GOP of a source that takes no keyframe
			// requests): a decoder drops them; what matters is what comes
			// in front of the first keyframe.
			continue
		}
		types = append(types, t)
		if t >= 16 && t <= 21 {
			return types
		}
	}
	return types
}

// ffmpeg pushes H.265 (libx265, parameter sets only in the SDP) and Opus
// over RTSP. A viewer that takes H.265 (pion, as Safari and Chrome with a
// hardware decoder) receives it with the parameter sets in front of its
// first keyframe; a viewer that offers only H.264 gets a 400 naming H265;
// the node records it as hvc1 in fragmented MP4, every frame decoding; and
// ffmpeg reads it back over RTSP and decodes it.
func TestRTSPH265ReachesViewersRecordingAndReaders(t *testing.T) {
	n, base := startNode(t, "-rtsp", "127.0.0.1:0", "-rtsp-udp", "", "-record-dir", t.TempDir(), "-record-all")
	hevc := []string{"-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency", "-x265-params", "log-level=error:bframes=0"}
	ffmpegPushCodecs(t, fmt.Sprintf("rtsp://%s/hevc", n.rtsp.Addr()), "tcp", 6, hevc, []string{"-c:a", "libopus", "-b:a", "64k", "-ac", "2"})
	waitUntil(t, 15*time.Second, "the H.265 stream on the origin", func() bool {
		s, ok := n.Registry().Get("hevc")
		return ok && s.Live() && len(s.Tracks()) == 2
	})
	s, _ := n.Registry().Get("hevc")
	for _, tr := range s.Tracks() {
		if c := tr.Codec(); tr.Kind().String() == "video" && (c.MimeType != "video/H265" || !strings.Contains(c.Fmtp, "profile-id=1")) {
			t.Fatalf("video track %+v, want H.265 Main", c)
		}
	}
	hc := newHTTPClient(t)
	v, err := watch(t, hc, base, "hevc")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "H.265 frames and audio at the viewer", func() bool {
		return markers(v.packets("video")) >= 30 && len(v.packets("audio")) >= 50
	})
	if types := firstH265Types(v); len(types) < 2 || types[0] != 32 {
		t.Fatalf("the viewer's video began with NAL types %v: want the AP of VPS, SPS and PPS before the first keyframe", types)
	}
	res, body := do(t, hc, "POST", base+"/whep/hevc", "application/sdp", makeOffer(t, webrtc.RTPTransceiverDirectionRecvonly, h264Cap))
	if res.StatusCode != 400 || !strings.Contains(body, "H265") {
		t.Fatalf("a viewer without H.265: %d %q, want 400 naming H265", res.StatusCode, body)
	}

	ff, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ff, "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v",
		"-show_entries", "stream=codec_name", "-of", "csv=p=0", fmt.Sprintf("rtsp://%s/hevc", n.rtsp.Addr())).Output()
	if err != nil || strings.TrimSpace(string(out)) != "hevc" {
		t.Fatalf("ffprobe over RTSP: %v %q, want hevc", err, out)
	}

	rec := finishedRecordingWithin(t, base, 20*time.Second)
	if strings.Join(rec.Codecs, ",") != "H265,opus" {
		t.Fatalf("recorded codecs %v, want H265 and opus", rec.Codecs)
	}
	out, err = exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-count_frames",
		"-show_entries", "stream=codec_name,codec_tag_string,nb_read_frames", "-of", "csv=p=0", base+rec.URL).Output()
	if err != nil {
		t.Fatalf("ffprobe the recording: %v", err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(f) != 3 || f[0] != "hevc" || f[1] != "hvc1" {
		t.Fatalf("ffprobe the recording: %q, want hevc in hvc1", out)
	}
	if dec, err := mediatest.Decode(base + rec.URL); err != nil || dec != "" {
		t.Fatalf("decoding the recording: %v\n%s", err, dec)
	}
}

// A relay carries H.265 like any codec: its upstream link offers it, and a
// viewer of the relay that takes H.265 gets the packets the origin got.
func TestRelayCarriesH265(t *testing.T) {
	origin, baseO := startNode(t, "-node-id", "origin-1", "-nats-listen", "127.0.0.1:0")
	relay, baseR := startRelay(t, origin.NATSURL())
	hc := newHTTPClient(t)
	tr := publishRTP(t, hc, baseO, "hevc", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH265, ClockRate: 90000,
		SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"})
	v, err := watch(t, hc, baseR, "hevc")
	if err != nil {
		t.Fatalf("an H.265 viewer on the relay: %v", err)
	}
	seq := uint16(0)
	waitUntil(t, 10*time.Second, "H.265 packets at the relay's viewer", func() bool {
		// A trailing picture's single NAL unit (type 1), one per frame.
		_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true}, Payload: []byte{0x02, 0x01, 0xd0, byte(seq)}})
		seq++
		return len(v.packets("video")) >= 20
	})
	s, ok := relay.Registry().Get("hevc")
	if !ok || len(s.Tracks()) != 1 || s.Tracks()[0].Codec().MimeType != "video/H265" {
		t.Fatalf("the relay's stream: %v", ok)
	}
}
