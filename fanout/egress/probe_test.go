package egress

import (
	"testing"
	"time"
)

// A leg pads up to its estimate, capped at what the next layer needs with
// headroom, once its layer has fitted for 2 s; it stops when it steps up
// (while the step is judged), on the top layer and when paused; a probe
// whose estimate falls back rests for 8 s, then 16 s.
func TestProbePadsTowardsTheNextLayerAndRestsWhenTheLinkIsFull(t *testing.T) {
	rates := []uint64{100_000, 400_000, 1_200_000}
	t0 := time.Now()
	ch := newChooser()
	steps := []struct {
		at       time.Duration
		cur, est int
		want     int // layer
		pad      int
	}{
		{0, 0, 300_000, 0, 0},                          // fits, not for 2 s yet
		{time.Second, 0, 300_000, 0, 0},                //
		{2 * time.Second, 0, 300_000, 0, 300_000},      // steady: pad to the estimate
		{3 * time.Second, 0, 450_000, 0, 450_000},      // the estimate climbs with it
		{4 * time.Second, 0, 600_000, 0, 500_000},      // capped at 1.25 × m; m fits: wait 2 s
		{6 * time.Second, 0, 600_000, 1, 0},            // up to m; no padding while it is judged
		{12 * time.Second, 1, 600_000, 1, 0},           // m has fitted with headroom since 12 s only
		{14 * time.Second, 1, 600_000, 1, 600_000},     // probing for h
		{15 * time.Second, 1, 700_000, 1, 700_000},     //
		{16 * time.Second, 1, 580_000, 1, 0},           // fell below 85% of 700k: rest 8 s
		{23 * time.Second, 1, 700_000, 1, 0},           // resting
		{24 * time.Second, 1, 700_000, 1, 700_000},     // probing again
		{25 * time.Second, 1, 590_000, 1, 0},           // failed again: rest 16 s
		{40 * time.Second, 1, 700_000, 1, 0},           //
		{41 * time.Second, 1, 700_000, 1, 700_000},     //
		{42 * time.Second, 1, 2_000_000, 1, 1_500_000}, // h fits
		{44 * time.Second, 1, 2_000_000, 2, 0},         // up to h: the top, nothing to probe for
		{60 * time.Second, 2, 2_000_000, 2, 0},         //
		{61 * time.Second, 2, 50_000, paused, 0},       // below l: paused, no padding
	}
	for i, s := range steps {
		got := ch.choose(rates, s.cur, s.est, t0.Add(s.at))
		if got != s.want || ch.padTo != s.pad {
			t.Fatalf("step %d (on %d, estimate %d at %v): layer %d padding to %d, want layer %d padding to %d",
				i, s.cur, s.est, s.at, got, ch.padTo, s.want, s.pad)
		}
	}
}

// A probe whose estimate has not climbed by a fifth in 10 s (a loaded
// node, a link that holds about what is sent) stops and rests, as one that
// fell does; one that keeps climbing goes on.
func TestProbeThatTeachesNothingStops(t *testing.T) {
	rates := []uint64{100_000, 800_000, 2_000_000}
	t0 := time.Now()
	ch := newChooser()
	for i, s := range []struct {
		at       time.Duration
		est, pad int
	}{
		{0, 300_000, 0},
		{2 * time.Second, 300_000, 300_000},          // probing
		{8 * time.Second, 370_000, 370_000},          // up a fifth in 6 s
		{17 * time.Second, 450_000, 450_000},         // and again in 9 s
		{26 * time.Second, 500_000, 500_000},         // up less than a fifth in 9 s
		{27500 * time.Millisecond, 510_000, 0},       // 10.5 s: rest 8 s
		{35 * time.Second, 510_000, 0},               //
		{35600 * time.Millisecond, 510_000, 510_000}, // probing again
	} {
		if got := ch.choose(rates, 0, s.est, t0.Add(s.at)); got != 0 || ch.padTo != s.pad {
			t.Fatalf("step %d (estimate %d at %v): layer %d padding to %d, want layer 0 padding to %d", i, s.est, s.at, got, ch.padTo, s.pad)
		}
	}
}
