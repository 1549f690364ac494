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
		}{{0, 2, 600_000, 1}, {0, 2, 130_000, 0}, {0, 1, 74_000, paused}}},
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
		{0, 1, 2_000_000, 1},                        // h fits: wait
		{2 * time.Second, 1, 2_000_000, 2},          // up to h
		{3 * time.Second, 2, 600_000, 2},            // not judged yet
		{4500 * time.Millisecond, 2, 600_000, 1},    // it did not hold: down, h barred 8 s
		{7 * time.Second, 1, 2_000_000, 1},          // barred
		{12 * time.Second, 1, 2_000_000, 1},         // barred until 12.5 s
		{12500 * time.Millisecond, 1, 2_000_000, 1}, // fits again: wait 2 s
		{14500 * time.Millisecond, 1, 2_000_000, 2}, // up
		{17 * time.Second, 2, 600_000, 1},           // down again: barred 16 s
		{32 * time.Second, 1, 2_000_000, 1},         // barred until 33 s
		{33 * time.Second, 1, 2_000_000, 1},         // wait
		{35 * time.Second, 1, 2_000_000, 2},         // up
		{43 * time.Second, 2, 600_000, 1},           // held past probation: down, not barred
		{44 * time.Second, 1, 2_000_000, 1},         // wait
		{46 * time.Second, 1, 2_000_000, 2},         // up again at once
	}
	for i, s := range steps {
		if got := ch.choose(rates, s.cur, s.est, at(s.at)); got != s.want {
			t.Fatalf("bars, step %d (on %d, estimate %d at %v): layer %d, want %d", i, s.cur, s.est, s.at, got, s.want)
		}
	}

	// Below the lowest layer the video pauses; a paused leg probes the
	// lowest layer after 4 s, and a probe that fails bars it (8 s); an
	// estimate that holds the lowest layer resumes it, after 2 s.
	ch = newChooser()
	pause := []struct {
		at       time.Duration
		cur, est int
		want     int
	}{
		{0, 0, 50_000, paused},
		{2 * time.Second, paused, 50_000, paused},
		{4 * time.Second, paused, 50_000, 0},          // the probe
		{5 * time.Second, 0, 50_000, 0},               // not judged yet
		{6 * time.Second, 0, 45_000, 0},               // the estimate has not fallen: held
		{6500 * time.Millisecond, 0, 30_000, paused},  // it fell: failed, l barred until 14.5 s
		{11 * time.Second, paused, 50_000, paused},    // barred
		{14500 * time.Millisecond, paused, 50_000, 0}, // the next probe
		{17 * time.Second, 0, 200_000, 0},             // it holds
		{21 * time.Second, 0, 70_000, paused},         // below three quarters of l, past probation: no bar
		{22 * time.Second, paused, 130_000, paused},   // fits: wait
		{24 * time.Second, paused, 130_000, 0},        // resumed by the estimate
	}
	for i, s := range pause {
		if got := ch.choose(rates, s.cur, s.est, at(s.at)); got != s.want {
			t.Fatalf("pause, step %d (on %d, estimate %d at %v): layer %d, want %d", i, s.cur, s.est, s.at, got, s.want)
		}
	}

	// Layers not measured yet never fit: the lowest listed is taken while
	// none is measured, and a layer not measured yet is never taken while
	// another is.
	ch = newChooser()
	if got := ch.choose([]uint64{0, 0, 0}, 2, 5_000_000, t0); got != 0 {
		t.Fatalf("unmeasured layers: %d, want 0", got)
	}
	ch = newChooser()
	if got := ch.choose([]uint64{57_000, 192_000, 0}, 0, 330_000, t0); got != 0 {
		t.Fatalf("l and m measured, h not, on l with 330 kbit/s: %d, want 0 (m after it has fitted for 2 s)", got)
	}
	ch = newChooser()
	if got := ch.choose([]uint64{0, 192_000, 528_000}, 2, 100_000, t0); got != paused {
		t.Fatalf("l not measured, m and h are, 100 kbit/s: %d, want paused", got)
	}
}
