package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// runBackup measures, rounds times on fresh processes, an origin's death
// with a backup publisher (the failover issue, #13): a primary (priority 1)
// on origin a, a backup on origin b, viewers on relay r1 (under the root)
// and r2 (under r1, depth 2), the control plane the origins' own (their
// NATS servers clustered, the relays on a's). kill -9 of a:
// kill to media and to a keyframe at both viewers. Then the primary
// returns on a restarted a: the largest gap at the viewers while the stream
// switches back (made before it breaks).
func runBackup(ctx context.Context, originBin string, rounds int) error {
	relayBin := filepath.Join(filepath.Dir(originBin), "relay")
	logs, aus, err := failoverSetup("backup")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logs)
	var media1, media2, key2, back []time.Duration
	steady := 0
	for round := 1; round <= rounds; round++ {
		r, err := backupRound(ctx, originBin, relayBin, logs, aus)
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		media1, media2, key2, back = append(media1, r.media1), append(media2, r.media2), append(key2, r.key2), append(back, r.back)
		if r.steady {
			steady++
		}
	}
	q := quantileMS
	fmt.Printf("origin kill -9 with a backup publisher on another origin: %d rounds (publisher GOP 1 s, which ignores keyframe requests)\n", rounds)
	fmt.Println("measure                                   p50_ms    max_ms")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"kill to media at depth 1", media1}, {"kill to media at depth 2", media2}, {"kill to keyframe at depth 2", key2}, {"switch back: largest gap at depth 2", back}} {
		fmt.Printf("%-40s  %8.0f  %8.0f\n", row.name, q(row.d, 0.5), q(row.d, 1))
	}
	fmt.Printf("rounds in which both viewers kept their session and SSRC throughout: %d of %d\n", steady, rounds)
	return nil
}

type backupResult struct {
	media1, media2, key2, back time.Duration
	steady                     bool
}

func backupRound(ctx context.Context, originBin, relayBin, logs string, aus [][]byte) (backupResult, error) {
	var res backupResult
	f := &fleet{ctx: ctx, logs: logs, args: []string{"-log-level", "warn"}}
	defer f.close()
	start := f.start
	set, err := nodeproc.NewOrigins("a", "b")
	if err != nil {
		return res, err
	}
	var nodes []*nodeproc.Proc
	for _, n := range []string{"a", "b"} {
		p, err := start(originBin, n, set.Options(n, "-max-children", "1"))
		if err != nil {
			return res, err
		}
		nodes = append(nodes, p)
	}
	for _, n := range []string{"r1", "r2"} {
		p, err := start(relayBin, n, nodeproc.Options{Args: []string{"-nats", nodes[0].NATS, "-join", set.Join(), "-max-children", "1"}})
		if err != nil {
			return res, err
		}
		nodes = append(nodes, p)
	}
	a, b, r1, r2 := nodes[0], nodes[1], nodes[2], nodes[3]
	primary, err := whipclient.Publish(ctx, a.Base+"/whip/main?priority=1", whipclient.Options{}, aus, nil)
	if err != nil {
		return res, err
	}
	defer primary.Close()
	backup, err := whipclient.Publish(ctx, b.Base+"/whip/main", whipclient.Options{}, aus, nil)
	if err != nil {
		return res, fmt.Errorf("the backup: %w", err)
	}
	defer backup.Close()
	var vs []*whipclient.Watcher
	for _, r := range []*nodeproc.Proc{r1, r2} { // r1 first: it takes the root's one slot
		v, err := whipclient.Watch(ctx, r.Base+"/whep/main", whipclient.Options{})
		if err != nil {
			return res, err
		}
		defer v.Close()
		if err := until(ctx, 10*time.Second, func() bool { return v.Count() > 30 }); err != nil {
			return res, fmt.Errorf("no video at %s: %w", r.Name, err)
		}
		vs = append(vs, v)
	}
	time.Sleep(time.Second)

	a.Kill()
	kill := time.Now()
	for i, v := range vs {
		var resumed, key time.Time
		if err := until(ctx, 15*time.Second, func() bool {
			var ok bool
			_, resumed, key, ok = v.Outage(kill)
			return ok
		}); err != nil {
			return res, fmt.Errorf("no media at depth %d after the kill: %w", i+1, err)
		}
		if i == 0 {
			res.media1 = resumed.Sub(kill)
		} else {
			res.media2, res.key2 = resumed.Sub(kill), key.Sub(kill)
		}
	}

	a2, err := start(originBin, "a", set.Options("a", "-max-children", "1"))
	if err != nil {
		return res, err
	}
	back := time.Now()
	p2, _, err := whipclient.PublishWhenFree(ctx, a2.Base+"/whip/main?priority=1", whipclient.Options{}, aus, nil, 50*time.Millisecond, 10*time.Second)
	if err != nil {
		return res, fmt.Errorf("the primary's return: %w", err)
	}
	defer p2.Close()
	// The switch back is done within a few seconds (a keyframe of the
	// primary at the relay); the gap is measured over 5 s from its POST.
	time.Sleep(5 * time.Second)
	res.back = vs[1].LargestGap(back)
	res.steady = vs[0].Steady() && vs[1].Steady()
	return res, nil
}
