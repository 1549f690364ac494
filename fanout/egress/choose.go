package egress

import (
	"math"
	"sort"
	"time"
)

// An automatic simulcast leg takes the best layer its viewer's bandwidth
// estimate holds: down at once when the estimate falls below the layer it
// is on (loss and queuing delay are already hurting the picture), up only
// after a higher layer has fitted for upAfter (the estimate climbs in
// steps, and a switch costs a keyframe).
//
// A leg pads to probe its link (probe.go), but GCC's estimate may still
// have run ahead of the link, so a step up is a probe too. A
// step up that has to come down within probation bars that layer for a
// while, doubling each time (barFirst up to barMost), so a viewer whose
// link holds the middle layer stays on it instead of switching up and
// down every few seconds, and still finds out when its link gets better.
//
// Below the lowest layer the leg pauses its video (the viewer's audio,
// another leg, goes on): paused is a layer of its own, of no bitrate, that
// always fits. A paused leg resumes the lowest layer when the estimate
// says it fits again, and in any case after pauseProbe, or once that
// layer's bar has passed: with no video going out, an estimate fed only
// by the audio, or by nothing, might never say so.
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
	// holdAfterUp: a step up is not judged before the estimate has had
	// feedback on it.
	holdAfterUp = 2 * time.Second
	probation   = 6 * time.Second
	barFirst    = 8 * time.Second
	barMost     = time.Minute
	pauseProbe  = 4 * time.Second
	// fell: a step up failed when, within probation, the estimate has
	// fallen below this share of what it was at the step.
	fell = 0.85
)

// paused is the layer index of a leg whose video is paused; none marks no
// layer in the chooser's own state.
const (
	paused = -1
	none   = -2
)

// chooser keeps the hysteresis of one leg.
type chooser struct {
	upTo     int // the higher layer that has fitted since upFrom; none
	upFrom   time.Time
	upAt     time.Time // the last step up, into layer upInto, at estimate upEst
	upInto   int
	upEst    int
	pausedAt time.Time
	bar      map[int]time.Duration // each failed layer's last bar
	until    map[int]time.Time     // barred until
	p        prober
	padTo    int // bit/s the leg pads up to (probe.go), 0 for none
}

func newChooser() chooser {
	return chooser{upTo: none, upInto: none, bar: map[int]time.Duration{}, until: map[int]time.Time{}, p: prober{to: none}}
}

// choose returns the index of the layer to be on, or paused, given each
// layer's bitrate (bit/s; 0 when not measured yet), the layer on now (or
// paused) and the estimate (bit/s), and sets padTo for the layer chosen.
// Until the layers are measured, the lowest listed is taken.
func (c *chooser) choose(rates []uint64, cur, est int, now time.Time) int {
	i := c.pick(rates, cur, est, now)
	c.padTo = 0
	if i == cur {
		c.padTo = c.padding(rates, cur, est, now)
	}
	return i
}

// pick is choose's layer.
func (c *chooser) pick(rates []uint64, cur, est int, now time.Time) int {
	rate := func(i int) uint64 {
		if i == paused {
			return 0
		}
		return rates[i]
	}
	order := make([]int, len(rates))
	for i := range order {
		order[i] = i
	}
	// Layers not measured yet sort last: they never fit, and the lowest
	// is the lowest measured (a leg once took a layer the publisher had
	// only just started, above what its link held).
	measured := func(i int) uint64 {
		if rates[i] == 0 {
			return math.MaxUint64
		}
		return rates[i]
	}
	sort.SliceStable(order, func(a, b int) bool { return measured(order[a]) < measured(order[b]) })
	lowest := order[0]
	if rates[lowest] == 0 {
		c.upTo = none
		return lowest // nothing can be told yet: the first listed
	}
	want := paused
	for _, i := range order {
		h := stayHeadroom
		if rate(i) > rate(cur) {
			h = upHeadroom
		}
		fits := rates[i] > 0 && float64(rates[i])*h <= float64(est)
		if fits && (i == cur || !now.Before(c.until[i])) {
			want = i
		}
	}
	if rate(want) < rate(cur) && cur == c.upInto && now.Sub(c.upAt) < probation {
		if now.Sub(c.upAt) < holdAfterUp || float64(est) >= fell*float64(c.upEst) {
			// Not judged yet, or the estimate has not fallen since the
			// step up: it may still be climbing from where it was (a
			// paused leg's, fed by nothing, is where the pause left it).
			return cur
		}
		// The step up into cur did not hold: bar cur for a while.
		c.bar[cur] = min(max(2*c.bar[cur], barFirst), barMost)
		c.until[cur] = now.Add(c.bar[cur])
		c.upInto = none
	}
	if cur == paused && want == paused && now.Sub(c.pausedAt) >= pauseProbe && !now.Before(c.until[lowest]) {
		c.upTo, c.upAt, c.upInto, c.upEst = none, now, lowest, est
		return lowest // a probe: the link may hold it by now
	}
	if rate(want) <= rate(cur) {
		c.upTo = none
		if want == paused && cur != paused {
			c.pausedAt = now
		}
		return want // down, pause, or where it is
	}
	if c.upTo != want {
		c.upTo, c.upFrom = want, now
		return cur
	}
	if now.Sub(c.upFrom) < upAfter {
		return cur
	}
	c.upTo, c.upAt, c.upInto, c.upEst = none, now, want, est
	return want
}
