package rtc

import (
	"bytes"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// A packet written as PaddingPayload says leaves the padder as a
// padding-only packet that a receiver parses as one (RFC 3550 §5.1: the
// P bit, 255 octets of padding, the last its count, no payload); any other
// packet passes unchanged.
func TestPadderMakesPaddingOnlyPackets(t *testing.T) {
	var wire [][]byte
	next := interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
		b, err := (&rtp.Packet{Header: *h, Payload: payload}).Marshal()
		wire = append(wire, b)
		return len(b), err
	})
	w := (&padder{}).BindLocalStream(&interceptor.StreamInfo{}, next)
	pad := rtp.Header{Version: 2, Padding: true, SequenceNumber: 7, SSRC: 9}
	if _, err := w.Write(&pad, PaddingPayload, nil); err != nil {
		t.Fatal(err)
	}
	media := rtp.Header{Version: 2, SequenceNumber: 8, SSRC: 9, Marker: true}
	if _, err := w.Write(&media, []byte{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	if pad.PaddingSize != 0 {
		t.Fatal("the padder changed the writer's header")
	}
	var p rtp.Packet
	if err := p.Unmarshal(wire[0]); err != nil {
		t.Fatal(err)
	}
	if !p.Padding || len(p.Payload) != 0 || p.PaddingSize != PaddingSize || len(wire[0]) != 12+PaddingSize || p.SequenceNumber != 7 {
		t.Fatalf("padding packet on the wire: %d bytes, P %v, payload %d, padding %d", len(wire[0]), p.Padding, len(p.Payload), p.PaddingSize)
	}
	if err := p.Unmarshal(wire[1]); err != nil {
		t.Fatal(err)
	}
	if p.Padding || !bytes.Equal(p.Payload, []byte{1, 2, 3}) || !p.Marker {
		t.Fatalf("media packet changed: %+v", p)
	}
}
