package fanout

import (
	"testing"
	"time"
)

// Padding runs take sequence numbers between a source's packets: the
// source's later packets are numbered after them, and NACKs map back to
// the source's numbers on either side of every run (a NACK of a padding
// packet maps to nothing), across the wrap, until the oldest run
// remembered is forgotten; a new epoch forgets them all.
func TestPaddingTakesSequenceNumbersAndNACKsStillMapBack(t *testing.T) {
	r := Continuity{ClockRate: 90000}
	now := time.Now()
	send := func(seq uint16) uint16 {
		h := HeaderFields{SSRC: 7, Seq: seq, TS: 1}
		r.Rewrite(&h, now)
		return h.Seq
	}
	if got := send(65530); got != 65530 {
		t.Fatalf("first packet numbered %d", got)
	}
	if first := r.Pad(3); first != 65531 {
		t.Fatalf("padding from %d, want 65531", first)
	}
	if got := send(65531); got != 65534 {
		t.Fatalf("the packet after 3 padding packets numbered %d, want 65534", got)
	}
	if first := r.Pad(4); first != 65535 {
		t.Fatalf("padding from %d, want 65535", first)
	}
	if got := send(65532); got != 3 {
		t.Fatalf("the packet after 4 more numbered %d, want 3 (wrapped)", got)
	}
	for sent, want := range map[uint16]int{65530: 65530, 65531: -1, 65533: -1, 65534: 65531, 65535: -1, 2: -1, 3: 65532, 4: -1, 65529: -1} {
		src, ok := r.Source(sent)
		switch {
		case want < 0 && ok:
			t.Fatalf("NACK of %d mapped to %d, want nothing", sent, src)
		case want >= 0 && (!ok || src != uint16(want)):
			t.Fatalf("NACK of %d mapped to %d (%v), want %d", sent, src, ok, want)
		}
	}
	for range maxPads {
		r.Pad(1)
	}
	if _, ok := r.Source(65530); ok {
		t.Fatal("a NACK from before the oldest padding run remembered still maps")
	}
	next := send(65533)
	if src, ok := r.Source(next); !ok || src != 65533 {
		t.Fatalf("NACK of the newest packet %d mapped to %d (%v)", next, src, ok)
	}
	r.MarkNewSource()
	h := HeaderFields{SSRC: 8, Seq: 100, TS: 1}
	r.Rewrite(&h, now)
	if src, ok := r.Source(h.Seq); !ok || src != 100 || len(r.pads) != 0 {
		t.Fatalf("a new epoch kept its padding runs (%d) or mapped %d to %d", len(r.pads), h.Seq, src)
	}
}
