package egress

import (
	"sort"
	"time"
)

// An automatic simulcast leg takes the best layer its viewer's bandwidth
// estimate holds: down at once when the estimate falls below the layer it
// is on (loss and queuing delay are already hurting the picture), up only
// after a higher layer has fitted for upAfter (the estimate climbs in
// steps, and a switch costs a keyframe).
//
// A leg sends no probes: while it is on a layer below what its link holds,
// GCC's estimate grows without being tested, so a step up is the probe. A
// step up that has to come down within probation bars that layer for a
// while, doubling each time (barFirst up to barMost), so a viewer whose
// link holds the middle layer stays on it instead of switching up and
// down every few seconds, and still finds out when its link gets better.
const (
	// A layer above the one a leg is on fits when its bitrate, times
	// upHeadroom, is within the estimate (its bitrate varies from second
	// to second; audio and retransmissions share the link); the layer it
	// is on, and those below, fit while three quarters of it is
	// (stayHeadroom). Right after a step up GCC's estimate falls back
	// towards what the viewer now receives, about the new layer's
	// bitrate: with one threshold for both, that dip alone sent viewers
	// back down (seen on a link shaped to 350 kbit/s, which holds a
	// 210 kbit/s layer well).
	upHeadroom   = 1.25
	stayHeadroom = 0.75
	upAfter      = 2 * time.Second
	probation    = 6 * time.Second
	barFirst     = 8 * time.Second
	barMost      = time.Minute
)

// chooser keeps the hysteresis of one leg.
type chooser struct {
	upTo   int // the higher layer that has fitted since upFrom; -1 for none
	upFrom time.Time
	upAt   time.Time // the last step up, into layer upInto
	upInto int
	bar    map[int]time.Duration // each failed layer's last bar
	until  map[int]time.Time     // barred until
}

func newChooser() chooser {
	return chooser{upTo: -1, upInto: -1, bar: map[int]time.Duration{}, until: map[int]time.Time{}}
}

// choose returns the index of the layer to be on, given each layer's
// bitrate (bit/s; 0 when not measured yet), the layer on now and the
// estimate (bit/s). The lowest layer is taken when none fits.
func (c *chooser) choose(rates []uint64, cur, est int, now time.Time) int {
	order := make([]int, len(rates))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rates[order[a]] < rates[order[b]] })
	want := order[0]
	for _, i := range order {
		h := stayHeadroom
		if rates[i] > rates[cur] {
			h = upHeadroom
		}
		fits := rates[i] > 0 && float64(rates[i])*h <= float64(est)
		if fits && (i == cur || !now.Before(c.until[i])) {
			want = i
		}
	}
	if rates[want] < rates[cur] && cur == c.upInto && now.Sub(c.upAt) < probation {
		// The step up into cur did not hold: bar cur for a while.
		c.bar[cur] = min(max(2*c.bar[cur], barFirst), barMost)
		c.until[cur] = now.Add(c.bar[cur])
		c.upInto = -1
	}
	if rates[want] <= rates[cur] {
		c.upTo = -1
		return want // down, or where it is
	}
	if c.upTo != want {
		c.upTo, c.upFrom = want, now
		return cur
	}
	if now.Sub(c.upFrom) < upAfter {
		return cur
	}
	c.upTo, c.upAt, c.upInto = -1, now, want
	return want
}
