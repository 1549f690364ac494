package rtmp

import (
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// counter counts packets and keeps the last RTP timestamp.
type counter struct{ n, ts atomic.Int64 }

func (c *counter) WritePacket(p *fanout.Packet) error {
	c.n.Add(1)
	c.ts.Store(int64(p.Header.Timestamp))
	return nil
}

// Enhanced RTMP: AV1 and VP9 by FourCC and Opus pass through to tracks of
// their own codec, with FLV timestamps on the RTP clocks.
func TestEnhancedRTMPTracks(t *testing.T) {
	_, ogg, err := mediatest.Files(mediatest.Small)
	if err != nil {
		t.Fatal(err)
	}
	opus, _ := whipclient.OpusPackets(ogg)
	for _, c := range []struct{ fourcc, codec, mime string }{{"av01", "av1", "video/AV1"}, {"vp09", "vp9", "video/VP9"}} {
		t.Run(c.codec, func(t *testing.T) {
			path, err := mediatest.IVF(mediatest.Small, c.codec)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := os.Open(path)
			defer f.Close()
			r, _, err := ivfreader.NewWith(f)
			if err != nil {
				t.Fatal(err)
			}
			reg := fanout.NewRegistry(fanout.RegistryParams{})
			defer reg.Close()
			pub, _ := reg.Publish("e")
			p := &publisher{name: "e", pub: pub, log: slog.New(slog.NewTextHandler(io.Discard, nil)), warned: map[string]bool{}}
			ex := func(packetType byte, key bool) []byte {
				ft := byte(2)
				if key {
					ft = 1
				}
				return append([]byte{0x80 | ft<<4 | packetType}, c.fourcc...)
			}
			p.video(0, ex(exSequenceStart, true))
			p.audio(0, append([]byte{0x90}, "Opus"...))
			s, _ := reg.Get("e")
			tracks := s.Tracks()
			if len(tracks) != 2 || tracks[0].Codec().MimeType != c.mime || tracks[1].Codec().MimeType != "audio/opus" {
				t.Fatalf("tracks %v", tracks)
			}
			vc, ac := &counter{}, &counter{}
			vs, _ := tracks[0].Subscribe(vc)
			as, _ := tracks[1].Subscribe(ac)
			defer vs.Close()
			defer as.Close()
			for i := 0; i < 30; i++ {
				frame, _, err := r.ParseNextFrame()
				if err != nil {
					t.Fatal(err)
				}
				key := i == 0
				p.video(uint32(i*1000/30), append(ex(exCodedFramesX, key), frame...))
				p.audio(uint32(i*20), append(append([]byte{0x91}, "Opus"...), opus[i]...))
			}
			deadline := time.Now().Add(2 * time.Second)
			for (vc.n.Load() < 30 || ac.n.Load() < 30) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if vc.n.Load() < 30 || ac.n.Load() != 30 {
				t.Fatalf("%d video packets for 30 frames, %d audio packets for 30", vc.n.Load(), ac.n.Load())
			}
			// FLV milliseconds on the 90 kHz and 48 kHz clocks (the tracks'
			// continuity offsets nothing for a first publisher).
			if v, a := vc.ts.Load(), ac.ts.Load(); v != 29*1000/30*90 || a != 29*20*48 {
				t.Fatalf("last timestamps: video %d, audio %d", v, a)
			}
		})
	}
}
