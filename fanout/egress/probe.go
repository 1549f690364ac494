package egress

import "time"

// A leg does not believe GCC's estimate far above what it sends (1.5
// times, bound.go, as libwebrtc's controllers hold theirs): a leg on the
// lowest layer, sending 60 kbit/s, never learns that its link holds the
// middle one. So while a
// higher layer is not yet known to fit, the leg pads (RTP padding-only
// packets on its SSRC after a frame's last packet, as libwebrtc does when
// RTX is not negotiated) up to its estimate, capped at what the next layer
// needs with its headroom: the estimate is then free to climb as far as
// the link allows, and the step up follows as choose.go says. A link that
// cannot hold more shows it in GCC's own terms (queuing delay, loss) and
// the estimate falls; the probe then stops and rests, for probeRestFirst,
// doubling each time up to barMost, so a link that holds the middle layer
// is not kept full of padding. So does a probe whose estimate has not
// climbed by probeGain in the last probeMax: padding that teaches GCC
// nothing only costs (a loaded node's viewers, whose estimates GCC held
// back, once padded without end and doubled its CPU per viewer). A probe
// that climbs is never paused: GCC pulls its estimate back to about what
// the viewer acknowledges as soon as the padding stops.
const (
	// probeRestFirst is the first rest after a probe that failed.
	probeRestFirst = 8 * time.Second
	probeMax       = 10 * time.Second
	probeGain      = 1.2
)

// prober is the padding state of one automatic leg, kept by its chooser.
type prober struct {
	to       int       // the layer probed for; none
	peak     int       // the highest estimate since the probe began
	from     int       // the estimate when it last climbed by probeGain
	began    time.Time // and when
	on       int       // the layer fits is about
	fits     time.Time // since when it has fitted with headroom; zero if it does not
	rest     time.Duration
	restTill time.Time
}

// padding is the rate (bit/s, media included) the leg on layer cur should
// pad up to, 0 for none. Under the chooser's own state: no probe while a
// step up is being judged or below the lowest layer.
func (c *chooser) padding(rates []uint64, cur, est int, now time.Time) int {
	next := none
	if cur != paused && rates[cur] > 0 {
		for i, r := range rates {
			if r > rates[cur] && (next == none || r < rates[next]) {
				next = i
			}
		}
	}
	// Only a leg whose layer has fitted with headroom for upAfter probes:
	// not one whose estimate is still coming down to its link (every leg
	// starts at 300 kbit/s, whatever its link), where padding would only
	// crowd out the picture.
	if cur != c.p.on {
		c.p.on, c.p.fits = cur, time.Time{}
	}
	if cur == paused || float64(est) < upHeadroom*float64(rates[cur]) {
		c.p.fits = time.Time{}
	} else if c.p.fits.IsZero() {
		c.p.fits = now
	}
	steady := !c.p.fits.IsZero() && now.Sub(c.p.fits) >= upAfter
	judging := c.upInto != none && now.Sub(c.upAt) < probation
	if next == none || !steady || judging || now.Before(c.until[next]) || now.Before(c.p.restTill) {
		c.p.to = none
		return 0
	}
	if c.p.to != next {
		c.p.to, c.p.peak, c.p.from, c.p.began = next, est, est, now
	}
	c.p.peak = max(c.p.peak, est)
	want := int(upHeadroom * float64(rates[next]))
	if float64(est) >= probeGain*float64(c.p.from) {
		c.p.from, c.p.began = est, now
	}
	if est >= want {
		c.p.rest, c.p.began = 0, now // found: the step up is choose's
	}
	if float64(est) < fell*float64(c.p.peak) || now.Sub(c.p.began) > probeMax {
		c.p.to = none
		c.p.rest = min(max(2*c.p.rest, probeRestFirst), barMost)
		c.p.restTill = now.Add(c.p.rest)
		return 0
	}
	return min(est, want)
}
