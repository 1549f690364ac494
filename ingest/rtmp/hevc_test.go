package rtmp

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	rtpcodecs "github.com/pion/rtp/codecs"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/codec"
	"github.com/relaymesh/relaymesh/internal/mediatest"
)

// collector keeps copies of the packets it is given.
type collector struct {
	mu   sync.Mutex
	pkts []fanout.Packet
}

func (c *collector) WritePacket(p *fanout.Packet) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := *p
	q.Payload = bytes.Clone(p.Payload)
	c.pkts = append(c.pkts, q)
	return nil
}

func (c *collector) packets() []fanout.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]fanout.Packet(nil), c.pkts...)
}

// hevcTags turns libx265's access units into Enhanced RTMP tags as OBS
// sends them: a sequence start with the HEVCDecoderConfigurationRecord,
// then length-prefixed frames with no parameter sets in them.
func hevcTags(t *testing.T, aus [][]byte) (header []byte, frames [][]byte, keys []bool) {
	t.Helper()
	sets := map[byte][]byte{}
	for _, au := range aus {
		var frame []byte
		key := false
		for _, n := range bytes.Split(au, []byte{0, 0, 0, 1})[1:] {
			switch typ := n[0] >> 1 & 0x3f; {
			case typ >= 32 && typ <= 34:
				sets[typ] = n
				continue
			case typ >= 16 && typ <= 21:
				key = true
			}
			frame = binary.BigEndian.AppendUint32(frame, uint32(len(n)))
			frame = append(frame, n...)
		}
		ft := byte(2)
		if key {
			ft = 1
		}
		frames = append(frames, append([]byte{0x80 | ft<<4 | exCodedFrames, 'h', 'v', 'c', '1', 0, 0, 0}, frame...))
		keys = append(keys, key)
	}
	rec := make([]byte, 23)
	rec[0], rec[21], rec[22] = 1, 0xff, 3
	for _, typ := range []byte{32, 33, 34} {
		rec = append(rec, 0x80|typ, 0, 1)
		rec = binary.BigEndian.AppendUint16(rec, uint16(len(sets[typ])))
		rec = append(rec, sets[typ]...)
	}
	return append([]byte{0x90 | exSequenceStart, 'h', 'v', 'c', '1'}, rec...), frames, keys
}

// Enhanced RTMP HEVC becomes an H.265 track (Main profile, as WebRTC
// names it): the parameter sets from the configuration record go in front
// of every keyframe, and the RTP depacketizes back to the frames sent.
func TestEnhancedRTMPHEVC(t *testing.T) {
	path, err := mediatest.H265(mediatest.Small)
	if err != nil {
		t.Fatal(err)
	}
	aus, err := mediatest.H265AccessUnits(path)
	if err != nil {
		t.Fatal(err)
	}
	header, frames, keys := hevcTags(t, aus[:60])
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	pub, _ := reg.Publish("h")
	p := &publisher{name: "h", pub: pub, log: slog.New(slog.NewTextHandler(io.Discard, nil)), warned: map[string]bool{}}
	p.video(0, header)
	s, _ := reg.Get("h")
	tracks := s.Tracks()
	if len(tracks) != 1 || tracks[0].Codec().MimeType != "video/H265" || !strings.Contains(tracks[0].Codec().Fmtp, "profile-id=1;tier-flag=0") {
		t.Fatalf("tracks %v", tracks)
	}
	c := &collector{}
	sub, _ := tracks[0].Subscribe(c)
	defer sub.Close()
	for i, f := range frames {
		p.video(uint32(i*1000/30), f)
	}
	ends := func() int { // frames delivered whole: their last packet has the marker
		n := 0
		for _, pkt := range c.packets() {
			if pkt.Header.Marker {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(5 * time.Second); ends() < len(frames) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	var got [][]byte
	d := &rtpcodecs.H265Depacketizer{}
	var au []byte
	keyframes := 0
	for _, pkt := range c.packets() {
		if len(au) == 0 && codec.IsKeyframe("video/H265", pkt.Payload) { // a frame's first packet
			keyframes++
		}
		b, err := d.Unmarshal(pkt.Payload)
		if err != nil {
			t.Fatalf("packet %d does not depacketize: %v", pkt.Header.SequenceNumber, err)
		}
		au = append(au, b...)
		if pkt.Header.Marker {
			got, au = append(got, au), nil
		}
	}
	if len(got) != len(frames) {
		t.Fatalf("%d frames out of RTP, %d in", len(got), len(frames))
	}
	for i, g := range got {
		startsWithVPS := g[4]>>1&0x3f == 32
		if startsWithVPS != keys[i] {
			t.Fatalf("frame %d (keyframe %v) starts with NAL type %d", i, keys[i], g[4]>>1&0x3f)
		}
	}
	if want := 2; keyframes != want {
		t.Fatalf("codec.IsKeyframe found %d keyframes, want %d", keyframes, want)
	}
}
