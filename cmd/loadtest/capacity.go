package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relaymesh/relaymesh/internal/mediatest"
)

// build is an origin binary under a label ("new", "base").
type build struct{ label, path string }

// parseBuilds reads -builds: label=path pairs, comma-separated.
func parseBuilds(s, origin string) ([]build, error) {
	if s == "" {
		return []build{{"new", origin}}, nil
	}
	var out []build
	for _, f := range strings.Split(s, ",") {
		label, path, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok || label == "" || path == "" {
			return nil, fmt.Errorf("-builds %q: want label=path pairs, e.g. new=bin/origin,base=bin/origin-base", s)
		}
		out = append(out, build{label, path})
	}
	return out, nil
}

// capacityLimit is the delivery a viewer count must keep to count as
// carried.
const capacityLimit = 0.995

// runCapacity measures each build at each viewer count with light viewers
// and the origin alone on CPU 0, the builds' runs of one count back to
// back so that the machine's drift touches both alike, rounds times. A
// build that falls below capacityLimit in any run is not run at larger
// counts. It prints a line per run, the largest count each build carried,
// and the CPU per viewer of each build against the first at the counts
// both ran: the ratio of their means over the rounds, and with more than
// one round each round's ratio beside it.
func runCapacity(ctx context.Context, builds []build, counts []int, rounds int, media string, p runParams) error {
	switch media {
	case "2M":
		p.media = mediatest.HD
	case "600k":
		p.media = mediatest.SD
	default:
		return fmt.Errorf("-media %q: want 2M or 600k", media)
	}
	p.light, p.pin = true, true
	via := "loopback"
	if p.net != nil {
		via = "veth"
	}
	label := media + " net=" + via // what every line says was measured
	// One client address joins them all: the per-address limits on new
	// and half-open sessions are not what is measured.
	p.extra = append(p.extra, "-session-rate", "1000", "-half-open", "1000")
	perViewer := map[string]map[int][]float64{} // a build's CPU per viewer at a count, a run each
	carried := map[string]int{}
	failed := map[string]bool{}
	for _, n := range counts {
		for range rounds {
			for _, b := range builds {
				if failed[b.label] {
					continue
				}
				r, ok, err := capacityRun(ctx, b, n, label, p)
				if err != nil {
					return err
				}
				if r != nil {
					if perViewer[b.label] == nil {
						perViewer[b.label] = map[int][]float64{}
					}
					perViewer[b.label][n] = append(perViewer[b.label][n], r.cpuMilli/float64(n))
				}
				if !ok {
					failed[b.label] = true
				}
			}
		}
		for _, b := range builds {
			if !failed[b.label] {
				carried[b.label] = n
			}
		}
	}
	for _, b := range builds {
		if carried[b.label] == 0 {
			fmt.Printf("capacity build=%s media=%s: no count carried with >= %.1f%% delivered\n", b.label, label, capacityLimit*100)
			continue
		}
		more := ""
		if !failed[b.label] {
			more = " (every count tried; it may carry more)"
		}
		fmt.Printf("capacity build=%s media=%s: largest count carried with >= %.1f%% delivered on one core: %d%s\n", b.label, label, capacityLimit*100, carried[b.label], more)
	}
	ref := builds[0].label
	for _, b := range builds[1:] {
		for _, n := range counts {
			x, y := perViewer[ref][n], perViewer[b.label][n]
			if len(x) == 0 || len(x) != len(y) || mean(y) == 0 {
				continue
			}
			each := ""
			if len(x) > 1 {
				var rs []string
				for i := range x {
					rs = append(rs, fmt.Sprintf("%.2f", x[i]/y[i]))
				}
				each = fmt.Sprintf(" (mean of %d runs each; by round %s)", len(x), strings.Join(rs, ", "))
			}
			fmt.Printf("capacity media=%s viewers=%d: %s spends %.2f of %s's CPU per viewer%s\n", label, n, ref, mean(x)/mean(y), b.label, each)
		}
	}
	if len(carried) == 0 {
		return errors.New("no build carried any count")
	}
	return nil
}

// capacityRun runs build b at n viewers and prints its line. ok says
// whether it carried them; r is nil when the viewers did not all join.
func capacityRun(ctx context.Context, b build, n int, label string, p runParams) (r *result, ok bool, err error) {
	q := p
	q.viewers, q.origin = n, b.path
	rctx, cancel := context.WithTimeout(ctx, p.duration+p.warmup+time.Duration(n)*50*time.Millisecond+2*time.Minute)
	r, err = run(rctx, q)
	cancel()
	if err != nil {
		// A node too busy to finish its viewers' handshakes in time does
		// not carry them either.
		fmt.Printf("capacity build=%s media=%s viewers=%d: not carried: %v\n", b.label, label, n, err)
		return nil, false, nil
	}
	if r.sampled == 0 || float64(r.good) < 0.9*float64(r.sampled) {
		return nil, false, fmt.Errorf("%s at %d viewers: pion decrypted %d of %d sampled packets: the stream is corrupt", b.label, n, r.good, r.sampled)
	}
	fmt.Printf("capacity build=%s media=%s viewers=%d delivered=%.3f%% p50_ms=%.2f p99_ms=%.2f srv_mcores=%.0f mcores/viewer=%.3f user=%.3f sys=%.3f MB/viewer=%.3f drops=%d burst=%.1f egress=%d/%d decrypted=%d/%d\n",
		b.label, label, n, r.delivery*100, r.p50.Seconds()*1000, r.p99.Seconds()*1000, r.cpuMilli, r.cpuMilli/float64(n), r.userMilli/float64(n), (r.cpuMilli-r.userMilli)/float64(n), r.rssPerViewerMB, r.drops, r.burst, r.egressOwn, n, r.good, r.sampled)
	// A sample pion could not decrypt (or, on a saturated node, whose
	// packet came too late for its reader) is not delivered either.
	return r, r.delivery >= capacityLimit && float64(r.good) >= 0.995*float64(r.sampled), nil
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
