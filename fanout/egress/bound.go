package egress

import "time"

// draft-ietf-rmcat-gcc-02 §5.5: "if the sender is unable to produce a bit
// stream with the bitrate the controller is asking for, the available
// bandwidth estimate should stay within a given bound", 1.5 times the rate
// the receiver measures; libwebrtc's AimdRateControl holds its increases
// below 1.5 times the acknowledged rate plus 10 kbit/s. pion's rate
// controller (interceptor v0.1.48, rate_controller.go) bounds an increase
// only while the estimate is still below that: once above it, a leg
// sending less than its link holds (the middle layer on a link that holds
// it and no more) sees its estimate climb by 8% a second without end,
// steps up into a layer its link cannot carry, and comes down hard (seen:
// 800 kbit/s estimated on a link shaped to 350, then 100 after the step).
//
// So a leg applies the bound itself, to what GCC says: the estimate it
// believes rises no further than 1.5 times what it sent over the last
// second (media, padding and repairs, on the wire) plus 10 kbit/s, and
// follows GCC's estimate down at once. What it already believed stands
// while it sends less (a paused leg's estimate stays where the pause left
// it, as choose.go expects). What it sent stands in for what the viewer
// acknowledged: GCC's own controllers bring the estimate down when the two
// part (queuing delay, loss). Padding counts, so a probe (probe.go) raises
// the bound as it goes, and only the link's answer stops it.
const (
	boundFactor = 1.5
	boundSlack  = 10_000 // bit/s
	boundWindow = time.Second
)

// bound is the believed estimate of one leg, under the layers' mu.
type bound struct {
	believed int       // bit/s; 0 before the first estimate
	rate     int       // bit/s sent over the last full window; -1 before one
	from     time.Time // the window's start
	fromWire uint64    // bytes sent before it
}

func newBound() bound { return bound{rate: -1} }

// apply takes GCC's estimate est at now, when the leg has sent wire bytes
// in all, and returns the estimate to believe.
func (b *bound) apply(est int, wire uint64, now time.Time) int {
	if b.from.IsZero() {
		b.from, b.fromWire = now, wire
	} else if d := now.Sub(b.from); d >= boundWindow {
		b.rate = int(float64(wire-b.fromWire) * 8 / d.Seconds())
		b.from, b.fromWire = now, wire
	}
	if b.believed == 0 || b.rate < 0 {
		b.believed = est // the start, as browsers start theirs, until a window has been seen
		return est
	}
	limit := int(boundFactor*float64(b.rate)) + boundSlack
	b.believed = min(est, max(b.believed, limit))
	return b.believed
}
