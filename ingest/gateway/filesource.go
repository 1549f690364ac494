package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/codec"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// FileSource plays local files in a loop, in real time: a video file of
// H.264 (Annex B: .h264, .264) or VP8, VP9 or AV1 (.ivf), and optionally
// an audio file, Ogg Opus (.ogg, .opus) or AAC in ADTS (.aac, transcoded to
// Opus once). The files are read into memory once.
type FileSource struct {
	Video, Audio string
	FPS          int // H.264 frame rate; IVF files carry theirs
	AudioBitrate int // Opus bitrate for an AAC file; zero means 128 kbit/s
}

func (s FileSource) String() string {
	if s.Audio != "" {
		return s.Video + " + " + s.Audio
	}
	return s.Video
}

// maxFile bounds a file read into memory.
const maxFile = 512 << 20

type fileFeed struct {
	codecs []fanout.Codec
	elems  []*elementary
	start  time.Time
	queue  []indexed
}

// elementary is one elementary stream of a file (its video, its audio):
// the frames, packetized and paced on their own clock.
type elementary struct {
	frames [][]byte
	pk     rtp.Packetizer
	every  time.Duration
	clock  uint32
	next   int
}

// Open loads the files.
func (s FileSource) Open(ctx context.Context) (Feed, error) {
	f := &fileFeed{start: time.Now()}
	if st, err := os.Stat(s.Video); err != nil || st.Size() > maxFile {
		return nil, fmt.Errorf("video file %s: missing or over %d MiB", s.Video, maxFile>>20)
	}
	switch strings.ToLower(filepath.Ext(s.Video)) {
	case ".h264", ".264":
		aus, err := whipclient.AccessUnits(s.Video)
		if err != nil {
			return nil, err
		}
		fps := max(s.FPS, 1)
		var sps []byte
		var first h264.AnnexB
		if err := first.Unmarshal(aus[0]); err == nil {
			for _, n := range first {
				if h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS {
					sps = n
				}
			}
		}
		f.add(codec.H264FromSPS(sps),
			aus, &codecs.H264Payloader{}, time.Second/time.Duration(fps), 90000)
	case ".ivf":
		c, frames, every, err := readIVF(s.Video)
		if err != nil {
			return nil, err
		}
		pay := map[string]rtp.Payloader{"video/VP8": &codecs.VP8Payloader{EnablePictureID: true}, "video/VP9": &codecs.VP9Payloader{}, "video/AV1": &codecs.AV1Payloader{}}[c.MimeType]
		f.add(c, frames, pay, every, 90000)
	default:
		return nil, fmt.Errorf("video file %s: want .h264 (Annex B) or .ivf", s.Video)
	}
	if s.Audio != "" {
		var pkts [][]byte
		var err error
		if strings.EqualFold(filepath.Ext(s.Audio), ".aac") {
			pkts, err = aacFile(s.Audio, s.AudioBitrate)
		} else {
			pkts, err = whipclient.OpusPackets(s.Audio)
		}
		if err != nil {
			return nil, fmt.Errorf("audio file %s (want Ogg Opus or ADTS AAC): %w", s.Audio, err)
		}
		f.add(codec.Opus,
			pkts, &codecs.OpusPayloader{}, 20*time.Millisecond, 48000)
	}
	return f, nil
}

func (f *fileFeed) add(c fanout.Codec, frames [][]byte, pay rtp.Payloader, every time.Duration, clock uint32) {
	f.codecs = append(f.codecs, c)
	f.elems = append(f.elems, &elementary{frames: frames, every: every, clock: clock,
		pk: rtp.NewPacketizer(1200, 96, uint32(0x1000+len(f.elems)), pay, rtp.NewRandomSequencer(), clock)})
}

func (f *fileFeed) Codecs() []fanout.Codec { return f.codecs }

// Next paces the tracks on the wall clock: each frame is due at its index
// times its duration after the start.
func (f *fileFeed) Next(ctx context.Context) (int, *rtp.Packet, error) {
	for len(f.queue) == 0 {
		which, due := -1, time.Time{}
		for i, t := range f.elems {
			if d := f.start.Add(time.Duration(t.next) * t.every); which < 0 || d.Before(due) {
				which, due = i, d
			}
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(time.Until(due)):
		}
		t := f.elems[which]
		samples := uint32(t.every * time.Duration(t.clock) / time.Second)
		for _, p := range t.pk.Packetize(t.frames[t.next%len(t.frames)], samples) {
			f.queue = append(f.queue, indexed{which, p})
		}
		t.next++
	}
	p := f.queue[0]
	f.queue = f.queue[1:]
	return p.i, p.pkt, nil
}

func (f *fileFeed) Close() {}

func readIVF(path string) (fanout.Codec, [][]byte, time.Duration, error) {
	fh, err := os.Open(path)
	if err != nil {
		return fanout.Codec{}, nil, 0, err
	}
	defer fh.Close()
	r, h, err := ivfreader.NewWith(fh)
	if err != nil {
		return fanout.Codec{}, nil, 0, err
	}
	c, ok := map[string]fanout.Codec{
		"VP80": {MimeType: "video/VP8", ClockRate: 90000},
		"VP90": {MimeType: "video/VP9", ClockRate: 90000, Fmtp: "profile-id=0"},
		"AV01": {MimeType: "video/AV1", ClockRate: 90000},
	}[h.FourCC]
	if !ok {
		return fanout.Codec{}, nil, 0, fmt.Errorf("IVF codec %q: want VP80, VP90 or AV01", h.FourCC)
	}
	every := time.Second / 30
	if h.TimebaseDenominator > 0 && h.TimebaseNumerator > 0 {
		every = time.Duration(h.TimebaseNumerator) * time.Second / time.Duration(h.TimebaseDenominator)
	}
	var frames [][]byte
	for {
		frame, _, err := r.ParseNextFrame()
		if err != nil {
			break
		}
		frames = append(frames, frame)
	}
	if len(frames) == 0 {
		return fanout.Codec{}, nil, 0, errors.New("no frames in " + path)
	}
	return c, frames, every, nil
}
