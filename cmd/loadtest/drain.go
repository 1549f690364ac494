package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// runDrain measures, rounds times on fresh processes, a planned move (the
// failover issue, #13): origin → r1 → r2 (fan-out 1), a viewer on r2 and
// one on the origin for reference. SIGTERM to r1 drains it: r2 links to
// the origin and switches at its keyframe before it leaves r1. Reported:
// the largest gap at r2's viewer during the move against the largest in
// as long before it, and the frames r2's viewer got in the move's window
// against the origin viewer's.
func runDrain(ctx context.Context, originBin string, rounds int) error {
	relayBin := filepath.Join(filepath.Dir(originBin), "relay")
	logs, aus, err := failoverSetup("drain")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logs)
	var gaps, calms []time.Duration
	lost, frames := 0, 0
	for round := 1; round <= rounds; round++ {
		r, err := drainRound(ctx, originBin, relayBin, logs, aus)
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		gaps, calms = append(gaps, r.gap), append(calms, r.calm)
		lost += max(0, r.reference-r.frames)
		frames += r.reference
	}
	q := quantileMS
	fmt.Printf("drain of a relay with a relay and a viewer below it: %d rounds\n", rounds)
	fmt.Println("measure                                   p50_ms    max_ms")
	fmt.Printf("%-40s  %8.0f  %8.0f\n", "largest gap below, during the move", q(gaps, 0.5), q(gaps, 1))
	fmt.Printf("%-40s  %8.0f  %8.0f\n", "largest gap below, as long before", q(calms, 0.5), q(calms, 1))
	fmt.Printf("frames missing below during the move: %d of %d\n", lost, frames)
	return nil
}

type drainResult struct {
	gap, calm         time.Duration
	frames, reference int
}

func drainRound(ctx context.Context, originBin, relayBin, logs string, aus [][]byte) (drainResult, error) {
	var res drainResult
	f := &fleet{ctx: ctx, logs: logs, args: []string{"-log-level", "warn", "-max-children", "1"}}
	defer f.close()
	start := f.start
	origin, err := start(originBin, "origin", nodeproc.Options{ExposeNATS: true})
	if err != nil {
		return res, err
	}
	cluster := []string{"-nats", origin.NATS, "-join", origin.Gossip}
	r1, err := start(relayBin, "r1", nodeproc.Options{Args: cluster})
	if err != nil {
		return res, err
	}
	r2, err := start(relayBin, "r2", nodeproc.Options{Args: cluster})
	if err != nil {
		return res, err
	}
	p, err := whipclient.Publish(ctx, origin.Base+"/whip/drain", whipclient.Options{}, aus, nil)
	if err != nil {
		return res, err
	}
	defer p.Close()
	ref, err := whipclient.Watch(ctx, origin.Base+"/whep/drain", whipclient.Options{})
	if err != nil {
		return res, err
	}
	defer ref.Close()
	// r1 pulls first and takes the origin's one slot; r2 goes under it.
	v1, err := whipclient.Watch(ctx, r1.Base+"/whep/drain", whipclient.Options{})
	if err != nil {
		return res, err
	}
	if err := until(ctx, 10*time.Second, func() bool { return v1.Count() > 30 }); err != nil {
		v1.Close()
		return res, fmt.Errorf("no video at r1: %w", err)
	}
	v2, err := whipclient.Watch(ctx, r2.Base+"/whep/drain", whipclient.Options{})
	if err != nil {
		v1.Close()
		return res, err
	}
	defer v2.Close()
	if err := until(ctx, 10*time.Second, func() bool { return v2.Count() > 30 }); err != nil {
		v1.Close()
		return res, fmt.Errorf("no video at r2: %w", err)
	}
	v1.Close() // r1's own viewer leaves: its drain then ends once r2 has moved
	time.Sleep(3 * time.Second)
	drain := time.Now()
	if err := r1.Signal(syscall.SIGTERM); err != nil {
		return res, err
	}
	select {
	case <-r1.Done():
	case <-time.After(20 * time.Second):
		return res, fmt.Errorf("r1 did not finish draining")
	case <-ctx.Done():
		return res, ctx.Err()
	}
	time.Sleep(2 * time.Second)
	end := time.Now()
	if !v2.Steady() {
		return res, fmt.Errorf("r2's viewer lost its session or saw a new SSRC")
	}
	res.gap = v2.LargestGap(drain)
	res.calm = largestGapIn(v2, drain.Add(-end.Sub(drain)), drain)
	res.frames, res.reference = v2.Frames(drain, end.Add(-200*time.Millisecond)), ref.Frames(drain, end.Add(-200*time.Millisecond))
	return res, nil
}

// largestGapIn is the longest silence between two video packets that
// arrived in (from, to].
func largestGapIn(w *whipclient.Watcher, from, to time.Time) time.Duration {
	var gap time.Duration
	ps := w.Video()
	for i := 1; i < len(ps); i++ {
		if ps[i].At.After(from) && !ps[i].At.After(to) {
			gap = max(gap, ps[i].At.Sub(ps[i-1].At))
		}
	}
	return gap
}
