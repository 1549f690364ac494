package egress

import (
	"testing"
	"time"
)

// GCC's estimate is believed up to 1.5 times what the leg sent over the
// last second plus 10 kbit/s: a leg sending 190 kbit/s whose GCC says
// 800 does not believe more than 295. Padding raises the bound; a fall is
// followed at once; what was believed stands while the leg sends less.
func TestGCCIsBelievedUpToWhatTheLegSends(t *testing.T) {
	t0 := time.Now()
	var b bound = newBound()
	var wire uint64
	send := func(bps int, d time.Duration) { wire += uint64(float64(bps) / 8 * d.Seconds()) }
	steps := []struct {
		at   time.Duration
		sent int // bit/s since the step before
		gcc  int
		want int
	}{
		{0, 0, 300_000, 300_000},                             // the start stands
		{500 * time.Millisecond, 190_000, 250_000, 250_000},  // no window seen yet: GCC's
		{time.Second, 190_000, 500_000, 295_000},             // 1.5 × 190 + 10
		{1500 * time.Millisecond, 190_000, 800_000, 295_000}, // GCC climbs on alone
		{2 * time.Second, 190_000, 800_000, 295_000},         // still sending 190: no higher
		{2500 * time.Millisecond, 300_000, 800_000, 295_000}, // padding: the window is not over
		{3 * time.Second, 300_000, 800_000, 460_000},         // padded to 300: 1.5 × 300 + 10
		{3500 * time.Millisecond, 300_000, 350_000, 350_000}, // GCC falls: followed at once
		{4 * time.Second, 0, 340_000, 340_000},               // sent 150 over the window: what was believed stands, under GCC
		{5 * time.Second, 0, 900_000, 340_000},               // sending nothing raises nothing
	}
	for i, s := range steps {
		if i > 0 {
			send(s.sent, s.at-steps[i-1].at)
		}
		if got := b.apply(s.gcc, wire, t0.Add(s.at)); got != s.want {
			t.Fatalf("step %d (at %v, GCC %d): believed %d, want %d", i, s.at, s.gcc, got, s.want)
		}
	}
}
