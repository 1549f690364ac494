package ingest

import (
	"context"
	"errors"
	"testing"

	"github.com/relaymesh/relaymesh/fanout"
)

var vp8 = fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: fanout.Codec{MimeType: "video/VP8", ClockRate: 90000}}

// vp8Frame is the first packet of a VP8 keyframe or delta frame.
func vp8Frame(ssrc uint32, seq uint16, key bool) *fanout.Packet {
	p := &fanout.Packet{Payload: []byte{0x10, 0x01, 0x9d}}
	if key {
		p.Payload[1] = 0x00
	}
	p.Header.SSRC, p.Header.SequenceNumber = ssrc, seq
	return p
}

// Publishers of one stream on one origin, by priority: the same priority
// twice is refused, a higher one takes over at its keyframe, a lower one
// waits; when the live one ends, the best left takes over, and the
// cluster is told the best priority after every change.
func TestPrioritiesOnOneOrigin(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	var told []int
	var handovers []int
	g := NewGate(GateParams{Registry: reg,
		Claim:      func(context.Context, string, int) (bool, error) { return true, nil },
		Publishers: func(_ string, best int, ok bool) { told = append(told, map[bool]int{true: best, false: -99}[ok]) },
		Handover:   func(_ string, next int, ok bool) bool { handovers = append(handovers, next); return ok },
	})
	admit := func(q string) (*fanout.Publication, error) {
		return g.Admit(t.Context(), Access{Protocol: "whip", Stream: "s", Query: q})
	}
	low, err := admit("")
	if err != nil || low.Waiting() {
		t.Fatalf("the first publisher: %v, waiting %v", err, low != nil && low.Waiting())
	}
	lv := low.Track(vp8)
	low.Settle()
	if _, err := admit("priority=0"); !errors.Is(err, ErrBusy) {
		t.Fatalf("the same priority again: %v, want busy", err)
	}
	high, err := admit("priority=5")
	if err != nil || !high.Waiting() {
		t.Fatalf("a higher priority: %v; it takes over at its keyframe, not before", err)
	}
	hv := high.Track(vp8)
	high.Settle()
	hv.Write(vp8Frame(2, 1, false))
	if !high.Waiting() {
		t.Fatal("a delta frame made the higher priority live")
	}
	hv.Write(vp8Frame(2, 2, true))
	if high.Waiting() || !low.Waiting() {
		t.Fatal("the higher priority's keyframe did not make it live")
	}
	lower, err := admit("priority=-3")
	if err != nil || !lower.Waiting() {
		t.Fatalf("a lower priority: %v, want a waiting backup", err)
	}
	lower.Track(vp8)
	lower.Settle()

	high.End()
	if len(handovers) != 1 || handovers[0] != 0 {
		t.Fatalf("handover told %v, want the next best, 0", handovers)
	}
	lv.Write(vp8Frame(1, 9, true)) // the low one's keyframe: it is live again
	if low.Waiting() || !lower.Waiting() {
		t.Fatalf("after the live one ended: low waiting %v, lower waiting %v; want low live", low.Waiting(), lower.Waiting())
	}
	low.End()
	lower.End()
	want := []int{0, 5, 5, 0, -3, -99}
	if len(told) != len(want) {
		t.Fatalf("the cluster was told %v, want %v", told, want)
	}
	for i := range want {
		if told[i] != want[i] {
			t.Fatalf("the cluster was told %v, want %v", told, want)
		}
	}
	if len(g.Streams()) != 0 {
		t.Fatalf("streams left in the gate: %v", g.Streams())
	}
}

func TestParsePriority(t *testing.T) {
	for q, want := range map[string]int{"": 0, "token=x": 0, "priority=3": 3, "token=x&priority=-2": -2} {
		if got, err := ParsePriority(q); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", q, got, err, want)
		}
	}
	for _, q := range []string{"priority=high", "priority=1.5", "priority=99999999999"} {
		if _, err := ParsePriority(q); !errors.Is(err, ErrBadPriority) {
			t.Errorf("%q: %v, want a bad priority", q, err)
		}
	}
}
