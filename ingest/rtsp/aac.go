package rtsp

import (
	"errors"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest/transcode"
)

// aacIn depacketizes AAC (RFC 3640) and transcodes it to Opus once for
// the stream, keeping the RTP clock: the first Opus packet takes the first
// AAC packet's time, rescaled to 48 kHz, and each one after it 20 ms more.
type aacIn struct {
	dec    *rtpmpeg4audio.Decoder
	tr     transcode.AACToOpus
	pk     rtp.Packetizer
	clock  int
	next   uint32
	timing bool
}

func newAACIn(f *format.MPEG4Audio, bitrate int) (*aacIn, error) {
	if f.Config == nil {
		return nil, errors.New("no config in the SDP (LATM is not read)")
	}
	asc, err := f.Config.Marshal()
	if err != nil {
		return nil, err
	}
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, err
	}
	tr, err := transcode.New(transcode.Params{Config: asc, Bitrate: bitrate})
	if err != nil {
		return nil, err
	}
	return &aacIn{dec: dec, tr: tr, clock: f.ClockRate(),
		pk: rtp.NewPacketizer(1200, 111, 0x0a0b0c0d, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)}, nil
}

func (a *aacIn) write(t *fanout.Track, pkt *rtp.Packet) {
	aus, err := a.dec.Decode(pkt)
	if err != nil {
		return // a fragment, or a lost one: the next access unit starts clean
	}
	if !a.timing {
		a.timing, a.next = true, uint32(uint64(pkt.Timestamp)*48000/uint64(a.clock))
	}
	for _, au := range aus {
		ops, err := a.tr.Push(au)
		if err != nil {
			continue
		}
		for _, op := range ops {
			for _, q := range a.pk.Packetize(op, 0) {
				q.Timestamp = a.next
				t.Write(&fanout.Packet{Header: q.Header, Payload: q.Payload})
			}
			a.next += transcode.FrameSamples
		}
	}
}
