package recorder

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/mediatest"
)

// A simulcast stream is recorded once, from its top layer: the recording
// waits until the layers' bitrates are measured, then takes the layer
// with the highest (here the full VP8 frames; the low layer carries one
// frame in four, which a recording of it would show).
func TestSimulcastRecordsTheTopLayer(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: 50 * time.Millisecond})
	defer reg.Close()
	r := newRecorder(t, reg, Params{All: true})
	pub, err := reg.Publish("sim")
	if err != nil {
		t.Fatal(err)
	}
	vp8 := fanout.Codec{MimeType: "video/VP8", ClockRate: 90000}
	low := pub.Track(fanout.TrackParams{ID: fanout.LayerID("video", "l"), Kind: fanout.KindVideo, Codec: vp8})
	high := pub.Track(fanout.TrackParams{ID: fanout.LayerID("video", "h"), Kind: fanout.KindVideo, Codec: vp8})
	pub.Settle()
	frames := ivfFrames(t, "vp8")
	lp := rtp.NewPacketizer(1200, 96, 1, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
	hp := rtp.NewPacketizer(1200, 96, 2, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
	start := time.Now()
	afterStart, recordingFrom := 0, time.Time{}
	// 30 frames a second of wall time (bitrates need a second), until 90
	// have been played while recording, 20 s at most.
	for i := 0; i < 600 && afterStart < 90; i++ {
		f := frames[i%len(frames)]
		for _, p := range hp.Packetize(f, 3000) {
			high.Write(&fanout.Packet{Header: p.Header, Payload: p.Payload})
		}
		if i%4 == 0 {
			for _, p := range lp.Packetize(f, 12000) {
				low.Write(&fanout.Packet{Header: p.Header, Payload: p.Payload})
			}
		}
		if _, ok := r.Recording("sim"); ok {
			if recordingFrom.IsZero() {
				recordingFrom = time.Now()
			}
			afterStart++
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second / 30)))
	}
	pub.End()
	waitFor(t, waitLong, "the recording to end", func() bool { _, ok := r.Recording("sim"); return !ok })
	if afterStart < 90 {
		t.Fatalf("the simulcast stream was recorded for %d frames of 600", afterStart)
	}
	list := r.List()
	if len(list) != 1 {
		t.Fatalf("%d recordings, want 1", len(list))
	}
	file := playable(t, r, list[0])
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	streams := strings.Fields(strings.TrimSpace(string(out)))
	if len(streams) != 1 || !strings.HasPrefix(streams[0], "video,") {
		t.Fatalf("the recording's streams: %q; want one video stream", out)
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(streams[0], "video,"))
	// From the first keyframe after the start (within a GOP of 30 frames)
	// on, every frame of the top layer; the low layer has a quarter.
	if n < afterStart-31 || n > afterStart {
		t.Fatalf("%d frames recorded of the %d played while recording: not the top layer's", n, afterStart)
	}
	if dec, err := mediatest.Decode(file); err != nil || dec != "" {
		t.Fatalf("decoding: %v\n%s", err, dec)
	}
	t.Logf("recorded %d frames from %.1f s after the start, of %d played", n, recordingFrom.Sub(start).Seconds(), afterStart)
}
