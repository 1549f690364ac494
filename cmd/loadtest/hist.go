package main

import (
	"slices"
	"sync/atomic"
	"time"
)

// hist is a latency histogram with 100 µs buckets up to 10 s, safe for
// concurrent adds without locks.
type hist struct {
	buckets [100001]atomic.Uint64
	count   atomic.Uint64
}

const bucket = 100 * time.Microsecond

func (h *hist) add(d time.Duration) {
	i := int(d / bucket)
	if i < 0 {
		i = 0
	}
	if i >= len(h.buckets) {
		i = len(h.buckets) - 1
	}
	h.buckets[i].Add(1)
	h.count.Add(1)
}

// quantile returns the upper edge of the bucket holding quantile q.
func (h *hist) quantile(q float64) time.Duration {
	total := h.count.Load()
	if total == 0 {
		return 0
	}
	want := uint64(q * float64(total))
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen > want {
			return time.Duration(i+1) * bucket
		}
	}
	return time.Duration(len(h.buckets)) * bucket
}

// quantileMS is the f-quantile of ds in milliseconds (f = 1: the largest).
func quantileMS(ds []time.Duration, f float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(f*float64(len(s))))].Microseconds()) / 1000
}
