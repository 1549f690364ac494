package recorder

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/relaymesh/relaymesh/fanout"
)

// A frame that never ends (its first packet, then the next sequence
// number starts another frame, as Chromium sent when it adapted its VP9
// encoder to a busy CPU) is dropped as a loss, and the frame after it
// keeps its own time: pion's sample builder glued them into one sample at
// the broken frame's time, and the keyframe inside it was lost, with the
// two seconds of frames that refer to it. Whatever order the two packets
// come in.
func TestAFrameThatNeverEndsIsDropped(t *testing.T) {
	idr := []byte{0x65, 0x88, 0x84, 0x00}
	slice := []byte{0x41, 0x9a, 0x02, 0x00}
	type pkt struct {
		frame  int
		marker bool
		key    bool
	}
	for _, c := range []struct {
		name    string
		packets []pkt // in sequence order; frame i is at i*3000
		swap    int   // if not 0, packet swap comes before packet swap-1
		want    []int // frames recorded
	}{
		{"a keyframe after the broken frame", []pkt{{0, true, true}, {1, true, false}, {2, false, false}, {3, true, true}, {4, true, false}}, 0, []int{0, 1, 3, 4}},
		{"the same, out of order", []pkt{{0, true, true}, {1, true, false}, {2, false, false}, {3, true, true}, {4, true, false}}, 3, []int{0, 1, 3, 4}},
		{"a delta frame after it waits for a keyframe", []pkt{{0, true, true}, {1, false, false}, {2, true, false}, {3, true, false}, {4, true, true}, {5, true, false}}, 0, []int{0, 4, 5}},
		{"a two-packet frame that lost its end", []pkt{{0, false, true}, {0, true, true}, {1, false, false}, {2, false, true}, {2, true, true}, {3, true, false}}, 0, []int{0, 2, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := newTrackRec(1, fanout.NewTrack(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo,
				Codec: fanout.Codec{MimeType: "video/H264", ClockRate: 90000}}))
			if err != nil {
				t.Fatal(err)
			}
			var ps []*rtp.Packet
			for i, p := range c.packets {
				payload := slice
				if p.key {
					payload = idr
				}
				ps = append(ps, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(100 + i), Timestamp: uint32(p.frame * 3000), Marker: p.marker}, Payload: payload})
			}
			if c.swap > 0 {
				ps[c.swap-1], ps[c.swap] = ps[c.swap], ps[c.swap-1]
			}
			t0 := time.Now()
			var got []int
			for _, p := range ps {
				if !tr.started {
					tr.begin(p, t0, t0)
				}
				for _, s := range tr.push(p) {
					got = append(got, int((s.dts+int64(s.s.PTSOffset))/3000))
				}
			}
			tr.sb.Flush()
			tr.flushing = true
			for _, s := range tr.pop() {
				got = append(got, int((s.dts+int64(s.s.PTSOffset))/3000))
			}
			if len(got) != len(c.want) {
				t.Fatalf("frames recorded %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("frames recorded %v, want %v", got, c.want)
				}
			}
		})
	}
}
