package egress

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

type fixedEstimate int

func (f fixedEstimate) GetTargetBitrate() int { return int(f) }

// A REMB about the leg's SSRC is the estimate while fresh, whatever the
// leg sends (the bound is on GCC's); one about another SSRC is not; a
// stale one gives way to GCC's.
func TestREMBIsTheEstimateWhileFresh(t *testing.T) {
	e := &estimate{gcc: fixedEstimate(300_000)}
	l := &layers{est: e, bound: newBound()}
	if got := l.estimate(time.Now()); got != 300_000 {
		t.Fatalf("before any REMB: %d, want GCC's 300000", got)
	}
	e.take(&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 80_000, SSRCs: []uint32{5}}, 7)
	if got := l.estimate(time.Now()); got != 300_000 {
		t.Fatalf("after a REMB about another SSRC: %d, want GCC's", got)
	}
	e.take(&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 2_000_000, SSRCs: []uint32{5, 7}}, 7)
	if got := l.estimate(time.Now()); got != 2_000_000 {
		t.Fatalf("after a REMB of 2000000 to a leg that sent nothing: %d", got)
	}
	e.at.Store(time.Now().Add(-rembFresh - time.Second).UnixNano())
	if got := l.estimate(time.Now()); got != 300_000 {
		t.Fatalf("after the REMB went stale: %d, want GCC's", got)
	}
}
