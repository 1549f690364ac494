package egress

import (
	"testing"
	"time"
)

func TestChooserStepsDownAtOnceAndUpAfterAStableFit(t *testing.T) {
	rates := []uint64{100_000, 400_000, 1_200_000} // l, m, h as listed
	t0 := time.Now()
	for _, c := range []struct {
		name  string
		steps []struct {
			at   time.Duration
			cur  int
			est  int
			want int
		}
	}{
		{"down at once", []struct {
			at       time.Duration
			cur, est int
			want     int
		}{{0, 2, 600_000, 1}, {0, 2, 130_000, 0}, {0, 1, 50_000, 0}}},
		{"up after 2 s of fitting", []struct {
			at       time.Duration
			cur, est int
			want     int
		}{{0, 0, 2_000_000, 0}, {time.Second, 0, 2_000_000, 0}, {2 * time.Second, 0, 2_000_000, 2}}},
		{"a dip restarts the wait", []struct {
			at       time.Duration
			cur, est int
			want     int
		}{{0, 0, 2_000_000, 0}, {time.Second, 0, 200_000, 0}, {1500 * time.Millisecond, 0, 2_000_000, 0}, {3 * time.Second, 0, 2_000_000, 0}, {3600 * time.Millisecond, 0, 2_000_000, 2}}},
		{"headroom", []struct {
			at       time.Duration
			cur, est int
			want     int
		}{{0, 2, 1_300_000, 2}, {0, 2, 900_000, 2}, {0, 2, 899_000, 1}, {0, 1, 299_000, 0}, {0, 1, 300_000, 1}, {0, 0, 499_000, 0}}},
	} {
		ch := newChooser()
		for i, s := range c.steps {
			if got := ch.choose(rates, s.cur, s.est, t0.Add(s.at)); got != s.want {
				t.Fatalf("%s, step %d (on %d, estimate %d at %v): layer %d, want %d", c.name, i, s.cur, s.est, s.at, got, s.want)
			}
		}
	}
	// A step up that comes down within probation bars the layer for 8 s,
	// then 16 s; a step up that holds is not barred.
	ch := newChooser()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	steps := []struct {
		at       time.Duration
		cur, est int
		want     int
	}{
		{0, 1, 2_000_000, 1},                // h fits: wait
		{2 * time.Second, 1, 2_000_000, 2},  // up to h
		{3 * time.Second, 2, 600_000, 1},    // it did not hold: down, h barred 8 s
		{6 * time.Second, 1, 2_000_000, 1},  // barred
		{10 * time.Second, 1, 2_000_000, 1}, // barred until 11 s
		{11 * time.Second, 1, 2_000_000, 1}, // fits again: wait 2 s
		{13 * time.Second, 1, 2_000_000, 2}, // up
		{14 * time.Second, 2, 600_000, 1},   // down again: barred 16 s
		{29 * time.Second, 1, 2_000_000, 1}, // barred until 30 s
		{30 * time.Second, 1, 2_000_000, 1}, // wait
		{32 * time.Second, 1, 2_000_000, 2}, // up
		{40 * time.Second, 2, 600_000, 1},   // held past probation: down, not barred
		{41 * time.Second, 1, 2_000_000, 1}, // wait
		{43 * time.Second, 1, 2_000_000, 2}, // up again at once
	}
	for i, s := range steps {
		if got := ch.choose(rates, s.cur, s.est, at(s.at)); got != s.want {
			t.Fatalf("bars, step %d (on %d, estimate %d at %v): layer %d, want %d", i, s.cur, s.est, s.at, got, s.want)
		}
	}

	// Layers not measured yet never fit: the lowest listed is taken.
	ch = newChooser()
	if got := ch.choose([]uint64{0, 0, 0}, 2, 5_000_000, t0); got != 0 {
		t.Fatalf("unmeasured layers: %d, want 0", got)
	}
}
