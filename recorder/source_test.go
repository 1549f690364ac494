package recorder

import (
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// source publishes real H.264 (ffmpeg-encoded, a keyframe every second)
// and Opus into a registry, packetized as a WebRTC publisher would, faster
// than real time: the recorder times samples by RTP timestamps only.
type source struct {
	pub        *fanout.Publication
	v, a       *fanout.Track
	vp, ap     rtp.Packetizer
	aus, opus  [][]byte
	frame, pkt int
}

func newSource(t *testing.T, reg *fanout.Registry, name string) *source {
	t.Helper()
	return newSourceOf(t, reg, name, "h264")
}

// newSourceOf is a source whose video is codec: h264, vp8, vp9 or av1.
func newSourceOf(t *testing.T, reg *fanout.Registry, name, codec string) *source {
	t.Helper()
	h264, ogg, err := mediatest.Files(mediatest.Small)
	if err != nil {
		t.Fatal(err)
	}
	s := &source{}
	mime, payloader := "video/H264", rtp.Payloader(&codecs.H264Payloader{})
	switch codec {
	case "h264":
		if s.aus, err = whipclient.AccessUnits(h264); err != nil {
			t.Fatal(err)
		}
	case "h265":
		mime, payloader = "video/H265", &codecs.H265Payloader{}
		path, err := mediatest.H265(mediatest.Small)
		if err != nil {
			t.Fatal(err)
		}
		if s.aus, err = mediatest.H265AccessUnits(path); err != nil {
			t.Fatal(err)
		}
	default:
		mime = map[string]string{"vp8": "video/VP8", "vp9": "video/VP9", "av1": "video/AV1"}[codec]
		payloader = map[string]rtp.Payloader{"vp8": &codecs.VP8Payloader{EnablePictureID: true}, "vp9": &codecs.VP9Payloader{}, "av1": &codecs.AV1Payloader{}}[codec]
		s.aus = ivfFrames(t, codec)
	}
	if s.opus, err = whipclient.OpusPackets(ogg); err != nil {
		t.Fatal(err)
	}
	if s.pub, err = reg.Publish(name); err != nil {
		t.Fatal(err)
	}
	s.v = s.pub.Track(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: fanout.Codec{MimeType: mime, ClockRate: 90000}})
	s.a = s.pub.Track(fanout.TrackParams{ID: "audio", Kind: fanout.KindAudio, Codec: fanout.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2}})
	s.pub.Settle()
	s.vp = rtp.NewPacketizer(1200, 102, 1111, payloader, rtp.NewRandomSequencer(), 90000)
	s.ap = rtp.NewPacketizer(1200, 111, 2222, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	return s
}

// play sends the next frames video frames (30 fps) and the audio packets
// (50 a second) of the same span, interleaved in time order.
func (s *source) play(frames int) {
	s.playFrames(frames, func(int) []byte { return s.aus[s.frame%len(s.aus)] })
}

// playFrames sends frames video frames, the i-th chosen by frame, with
// the audio of the same span interleaved in time order.
func (s *source) playFrames(frames int, frame func(i int) []byte) {
	for i := range frames {
		for _, p := range s.vp.Packetize(frame(i), 3000) {
			s.v.Write(&fanout.Packet{Header: p.Header, Payload: p.Payload})
		}
		s.frame++
		for s.pkt*3 < s.frame*5 { // 50 audio packets per 30 frames
			for _, p := range s.ap.Packetize(s.opus[s.pkt%len(s.opus)], 960) {
				s.a.Write(&fanout.Packet{Header: p.Header, Payload: p.Payload})
			}
			s.pkt++
		}
		s.drain()
	}
}

// drain waits until the tracks' subscribers (the recorder) have taken what
// was written, so no packet is dropped for them however busy the machine:
// the pace is the recorder's, not a sleep's.
func (s *source) drain() {
	for s.v.Backlog()+s.a.Backlog() > 0 {
		time.Sleep(100 * time.Microsecond)
	}
}

// playRealtime plays frames at 30 a second of wall time (the recorder's
// backoff after a failed write is in wall time).
func (s *source) playRealtime(frames int) {
	start := time.Now()
	for i := 0; i < frames; i++ {
		s.play(1)
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second / 30)))
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitLong bounds a wait for something that must happen, not how fast: a
// recording's start writes and syncs its folder and metadata, and on a CI
// machine busy with the whole suite (Chromium, ffmpeg, clusters of node
// processes) syncs have taken seconds; a 5 s bound timed out there.
const waitLong = 20 * time.Second

// waitFor polls cond.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

// ivfFrames reads the frames of the test media encoded with codec.
func ivfFrames(t *testing.T, codec string) [][]byte {
	t.Helper()
	path, err := mediatest.IVF(mediatest.Small, codec)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for {
		frame, _, err := r.ParseNextFrame()
		if err != nil {
			return frames
		}
		frames = append(frames, frame)
	}
}
