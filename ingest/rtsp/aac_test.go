package rtsp

import (
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest/transcode"
	"github.com/relaymesh/relaymesh/internal/codec"
)

// The RFC 3640 AAC depacketizer and the transcoder behind it take any
// payload without a crash.
func FuzzAACDepacketize(f *testing.F) {
	if !transcode.Available() {
		f.Fatal(transcode.ErrUnavailable)
	}
	f.Add([]byte{0x00, 0x10, 0x01, 0x00, 0x21, 0x10, 0x04, 0x60})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, payload []byte) {
		fm := &format.MPEG4Audio{PayloadTyp: 97, Config: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelConfig: 2},
			SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		a, err := newAACIn(fm, 64000)
		if err != nil {
			t.Fatal(err)
		}
		defer a.tr.Close()
		tr := fanout.NewTrack(fanout.TrackParams{ID: "audio", Kind: fanout.KindAudio, Codec: codec.Opus})
		defer tr.Close()
		a.write(tr, &rtp.Packet{Header: rtp.Header{Timestamp: 1000, Marker: true}, Payload: payload})
	})
}
