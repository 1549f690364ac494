package fanout

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Whatever the source (an RTSP camera's packets arrive with its own
// extensions and padding), subscribers get neither: extension ids mean
// nothing on their legs (RFC 8285 §6), padding is the sender's pacing.
func TestHubStripsExtensionsAndPadding(t *testing.T) {
	tr := NewTrack(vp8)
	defer tr.Close()
	c := &collector{}
	if _, err := tr.Subscribe(c); err != nil {
		t.Fatal(err)
	}
	in := &Packet{Header: rtp.Header{Version: 2, SequenceNumber: 7, Padding: true, PaddingSize: 4, Extension: true,
		ExtensionProfile: 0xBEDE}, Payload: []byte{0x10, 0x00, 0x01}}
	if err := in.Header.SetExtension(3, []byte{0xaa, 0xbb}); err != nil {
		t.Fatal(err)
	}
	tr.Write(in)
	deadline := time.Now().Add(5 * time.Second)
	for len(c.packets()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := c.packets()
	if len(got) != 1 {
		t.Fatalf("subscriber got %d packets, want 1", len(got))
	}
	h := got[0].Header
	if h.Extension || len(h.Extensions) != 0 || h.ExtensionProfile != 0 || h.Padding || h.PaddingSize != 0 {
		t.Fatalf("the packet left the hub with extensions or padding: %+v", h)
	}
	b, err := (&rtp.Packet{Header: h, Payload: got[0].Payload}).Marshal()
	if err != nil || len(b) != 12+3 {
		t.Fatalf("marshalled to %d bytes (%v), want a bare 12-byte header and the payload", len(b), err)
	}
}
