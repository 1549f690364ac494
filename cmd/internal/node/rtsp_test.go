package node

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/ingest/transcode"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// freeUDPPair finds an even UDP port whose successor is free too (RTSP's
// UDP transport: RTP, then RTCP).
func freeUDPPair(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		a, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := a.LocalAddr().(*net.UDPAddr).Port &^ 1
		a.Close()
		rtpC, err1 := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port))
		rtcpC, err2 := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port+1))
		if rtpC != nil {
			rtpC.Close()
		}
		if rtcpC != nil {
			rtcpC.Close()
		}
		if err1 == nil && err2 == nil {
			return port
		}
	}
	t.Fatal("no free even UDP port pair")
	return 0
}

// ffmpegPush publishes testsrc2 H.264 (a keyframe a second, SPS and PPS
// only in the SDP, as ffmpeg's RTSP muxer sends them) and a sine in Opus
// to url over transport for seconds.
func ffmpegPush(t *testing.T, url, transport string, seconds int) *exec.Cmd {
	t.Helper()
	return ffmpegPushAudio(t, url, transport, seconds, "-c:a", "libopus", "-b:a", "64k", "-ac", "2")
}

// ffmpegPushAudio is ffmpegPush with other audio encoder arguments.
func ffmpegPushAudio(t *testing.T, url, transport string, seconds int, audio ...string) *exec.Cmd {
	t.Helper()
	video := []string{"-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-tune", "zerolatency"}
	return ffmpegPushCodecs(t, url, transport, seconds, video, audio)
}

// ffmpegPushCodecs is ffmpegPush with other encoder arguments.
func ffmpegPushCodecs(t *testing.T, url, transport string, seconds int, video, audio []string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is needed (make test installs Debian's ffmpeg)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{"-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(seconds), "-pix_fmt", "yuv420p", "-g", "30"}
	args = append(append(append(args, video...), audio...), "-f", "rtsp", "-rtsp_transport", transport, url)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	return cmd
}

// spsBeforeFirstIDR reports whether the viewer's video carried an SPS
// (alone or in a STAP-A) before its first IDR slice, as a decoder that
// joins there needs.
func spsBeforeFirstIDR(v *viewer) bool {
	for _, p := range v.packets("video") {
		h := p.head
		if h[0]&0x1f == 7 || (h[0]&0x1f == 24 && h[3]&0x1f == 7) {
			return true
		}
		if h[0]&0x1f == 5 || (h[0]&0x1f == 28 && h[1]&0x80 != 0 && h[1]&0x1f == 5) {
			return false
		}
	}
	return false
}

// ffmpeg pushes H.264 + Opus over RTSP, once over TCP and once over UDP; a
// WHEP viewer receives both tracks, and its video starts with the SPS and
// PPS the origin put in front of the IDR.
func TestRTSPPublishReachesWHEPViewers(t *testing.T) {
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			n, base := startNode(t, "-rtsp", "127.0.0.1:0", "-rtsp-udp", fmt.Sprintf("127.0.0.1:%d", freeUDPPair(t)))
			stream := "rtsp" + transport
			ffmpegPush(t, fmt.Sprintf("rtsp://%s/%s", n.rtsp.Addr(), stream), transport, 8)
			waitUntil(t, 10*time.Second, "the RTSP stream on the origin", func() bool {
				s, ok := n.Registry().Get(stream)
				return ok && s.Live() && len(s.Tracks()) == 2
			})
			v, err := watch(t, newHTTPClient(t), base, stream)
			if err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 10*time.Second, "video frames and audio at the viewer", func() bool {
				return markers(v.packets("video")) >= 30 && len(v.packets("audio")) >= 50
			})
			if !spsBeforeFirstIDR(v) {
				t.Fatal("no SPS/PPS before the viewer's first keyframe: a browser could not decode")
			}
		})
	}
}

// announce sends one raw RTSP ANNOUNCE and returns the status code.
func announce(t *testing.T, addr, path, sdp string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "ANNOUNCE rtsp://%s%s RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", addr, path, len(sdp), sdp)
	var proto string
	var code int
	if _, err := fmt.Fscan(c, &proto, &code); err != nil {
		t.Fatalf("ANNOUNCE %s: no answer: %v", path, err)
	}
	return code
}

const h264SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==; profile-level-id=42C01E\r\na=control:streamid=0\r\n"

// Bad RTSP publishers are refused with the status that says why, and the
// node goes on serving: garbage SDP, a bad name, a missing token, codecs
// WebRTC cannot carry, a name already in use.
func TestRTSPBadPublishers(t *testing.T) {
	n, base := startNode(t, "-rtsp", "127.0.0.1:0", "-rtsp-udp", "", "-publish-token", "s3cret")
	addr := n.rtsp.Addr().String()
	hc := newHTTPClient(t)
	if _, err := publish(t, hc, base, "busy", whipclient.Options{Token: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	mjpeg := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 0 RTP/AVP 26\r\na=control:streamid=0\r\n"
	for _, c := range []struct {
		path, sdp string
		want      int
	}{
		{"/garbage?token=s3cret", "this is not SDP", 400},
		{"/bad%20name?token=s3cret", h264SDP, 400},
		{"/cam", h264SDP, 401},
		{"/cam?token=wrong", h264SDP, 401},
		{"/cam?token=s3cret", mjpeg, 415},
		{"/busy?token=s3cret", h264SDP, 409},
		{"/cam?token=s3cret", h264SDP, 200},
	} {
		if got := announce(t, addr, c.path, c.sdp); got != c.want {
			t.Errorf("ANNOUNCE %s: %d, want %d", c.path, got, c.want)
		}
	}
	if _, err := publish(t, hc, base, "after", whipclient.Options{Token: "s3cret"}); err != nil {
		t.Fatalf("a WHIP publish after the bad RTSP ones: %v", err)
	}
}

// Any stream on the node can be read over RTSP (DESCRIBE/PLAY), as VLC,
// ffplay or an NVR would: a stream published by WHIP is read back by
// ffmpeg, which decodes its frames.
func TestRTSPReadBack(t *testing.T) {
	video, audio := testMedia(t)
	n, base := startNode(t, "-rtsp", "127.0.0.1:0", "-rtsp-udp", "")
	pub, err := publish(t, newHTTPClient(t), base, "readme", whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			pub.send(t, video, audio, 15)
		}
	}()
	defer func() { cancel(); <-done }()
	ff, cancelFF := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelFF()
	out, err := exec.CommandContext(ff, "ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", fmt.Sprintf("rtsp://%s/readme", n.rtsp.Addr()),
		"-map", "0:v", "-frames:v", "30", "-f", "framemd5", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg reading over RTSP: %v\n%s", err, out)
	}
	frames := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "0,") {
			frames++
		}
	}
	if frames != 30 {
		t.Fatalf("ffmpeg decoded %d frames over RTSP, want 30", frames)
	}
	if code := rtspDescribe(t, n.rtsp.Addr().String(), "/nosuch"); code != 404 {
		t.Fatalf("DESCRIBE of an unknown stream: %d, want 404", code)
	}
}

func rtspDescribe(t *testing.T, addr, path string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "DESCRIBE rtsp://%s%s RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n", addr, path)
	var proto string
	var code int
	if _, err := fmt.Fscan(c, &proto, &code); err != nil {
		t.Fatal(err)
	}
	return code
}

// AAC over RTSP is transcoded to Opus like RTMP's (the viewer hears the
// tone); G.711 goes to viewers as it is.
func TestRTSPAudioCodecs(t *testing.T) {
	if !transcode.Available() {
		t.Fatal(transcode.ErrUnavailable)
	}
	for _, c := range []struct {
		name, mime string
		args       []string
		perSecond  int
	}{
		{"aac", "audio/opus", []string{"-c:a", "aac", "-b:a", "64k", "-ac", "2"}, 50},
		{"pcmu", "audio/PCMU", []string{"-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"}, 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, base := startNode(t, "-rtsp", "127.0.0.1:0", "-rtsp-udp", "")
			ffmpegPushAudio(t, fmt.Sprintf("rtsp://%s/a%s", n.rtsp.Addr(), c.name), "tcp", 8, c.args...)
			waitUntil(t, 10*time.Second, "the RTSP stream with its two tracks", func() bool {
				s, ok := n.Registry().Get("a" + c.name)
				return ok && s.Live() && len(s.Tracks()) == 2
			})
			s, _ := n.Registry().Get("a" + c.name)
			if got := s.Tracks()[1].Codec().MimeType; got != c.mime {
				t.Fatalf("audio track is %s, want %s", got, c.mime)
			}
			v, err := watch(t, newHTTPClient(t), base, "a"+c.name)
			if err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 10*time.Second, "2 s of audio at the viewer", func() bool { return len(v.packets("audio")) >= 2*c.perSecond })
			if c.mime != "audio/opus" {
				return
			}
			var payloads [][]byte
			for _, p := range v.packets("audio") {
				payloads = append(payloads, p.audio)
			}
			if db := loudness(t, payloads); db < -40 {
				t.Fatalf("the viewer's audio is at %.1f dB: silence, not the tone", db)
			}
		})
	}
}
