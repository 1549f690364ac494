package codec

import (
	"testing"

	"github.com/pion/rtp"
)

// An IDR without parameter sets gets a STAP-A of the last SPS and PPS in
// front, once per access unit; sequence numbers stay contiguous; an access
// unit that brings its own sets is left alone.
func TestParameterSetsBeforeEveryIDR(t *testing.T) {
	p := NewParamSets([]byte{0x67, 1, 2}, []byte{0x68, 3})
	pkt := func(seq uint16, ts uint32, payload ...byte) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts}, Payload: payload}
	}
	var out []*rtp.Packet
	for _, in := range []*rtp.Packet{
		pkt(10, 100, 0x7c, 0x85, 9),                         // FU-A start of an IDR: sets go first
		pkt(11, 100, 0x7c, 0x45, 9),                         // its end
		pkt(12, 200, 0x41, 9),                               // a P slice
		pkt(13, 300, 0x78, 0, 3, 0x67, 7, 7, 0, 2, 0x68, 8), // a STAP-A with new sets
		pkt(14, 300, 0x65, 9),                               // its IDR: nothing added
		pkt(15, 400, 0x65, 9),                               // a bare IDR: the new sets
	} {
		out = append(out, p.Process(in)...)
	}
	if len(out) != 8 {
		t.Fatalf("%d packets out, want 8", len(out))
	}
	for i, o := range out {
		if o.SequenceNumber != 10+uint16(i) {
			t.Fatalf("packet %d has seq %d: not contiguous", i, o.SequenceNumber)
		}
	}
	if out[0].Payload[0]&0x1f != naluSTAPA || out[0].Timestamp != 100 || string(out[0].Payload[3:6]) != string([]byte{0x67, 1, 2}) {
		t.Fatalf("first packet %x, want the STAP-A of the SDP's sets", out[0].Payload)
	}
	if out[6].Payload[0]&0x1f != naluSTAPA || string(out[6].Payload[3:6]) != string([]byte{0x67, 7, 7}) {
		t.Fatalf("packet 6 %x, want a STAP-A of the stream's newer sets", out[6].Payload)
	}
}

// The same for H.265: an AP of VPS, SPS and PPS goes before an IDR or CRA
// fragment that lacks them, and not before a trailing picture.
func TestH265ParameterSetsBeforeEveryIRAP(t *testing.T) {
	vps, sps, pps := []byte{0x40, 0x01, 0x0c}, []byte{0x42, 0x01, 0x01}, []byte{0x44, 0x01, 0xc1}
	p := NewH265ParamSets(vps, sps, pps)
	pkt := func(seq uint16, ts uint32, payload ...byte) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts}, Payload: payload}
	}
	var out []*rtp.Packet
	for _, in := range []*rtp.Packet{
		pkt(10, 100, 0x62, 0x01, 0x93, 9), // FU start of an IDR_W_RADL: sets go first
		pkt(11, 100, 0x62, 0x01, 0x53, 9), // its end
		pkt(12, 200, 0x02, 0x01, 9),       // a trailing picture
		pkt(13, 300, 0x2a, 0x01, 9),       // a CRA: sets again
	} {
		out = append(out, p.Process(in)...)
	}
	if len(out) != 6 {
		t.Fatalf("%d packets out, want 6", len(out))
	}
	for i, o := range out {
		if o.SequenceNumber != 10+uint16(i) {
			t.Fatalf("packet %d has seq %d: not contiguous", i, o.SequenceNumber)
		}
	}
	want := []byte{0x60, 0x01, 0, 3, 0x40, 0x01, 0x0c, 0, 3, 0x42, 0x01, 0x01, 0, 3, 0x44, 0x01, 0xc1}
	for _, i := range []int{0, 4} {
		if string(out[i].Payload) != string(want) {
			t.Fatalf("packet %d is %x, want the AP %x", i, out[i].Payload, want)
		}
	}
}
