package recorder

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/relaymesh/relaymesh/fanout"
)

// An hour of Opus (180,000 packets of 20 ms), with the 32-bit RTP clock
// wrapping midway: every sample lands exactly on the publisher's clock, so
// a long recording does not drift, and the wrap leaves no gap or jump.
func TestAnHourKeepsThePublishersClock(t *testing.T) {
	tr, err := newTrackRec(1, fanout.NewTrack(fanout.TrackParams{ID: "audio", Kind: fanout.KindAudio,
		Codec: fanout.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2}}))
	if err != nil {
		t.Fatal(err)
	}
	const packets = 180000
	start := uint32(1<<32 - 48000*1800) // wraps after 30 minutes
	t0 := time.Now()
	var all []timed
	for i := 0; i < packets; i++ {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: start + uint32(i)*960, Marker: true}, Payload: []byte{0xfc, byte(i)}}
		if i == 0 {
			tr.begin(p, t0, t0)
		}
		all = append(all, tr.push(p)...)
	}
	tr.sb.Flush()
	all = append(all, tr.pop()...)
	if len(all) != packets {
		t.Fatalf("%d samples out of %d packets", len(all), packets)
	}
	for i, s := range all {
		if s.dts != int64(i)*960 {
			t.Fatalf("sample %d at %d, want %d: %d ticks of drift", i, s.dts, int64(i)*960, s.dts-int64(i)*960)
		}
	}
}
