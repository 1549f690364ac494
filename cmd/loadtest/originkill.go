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

// runOriginKill measures, rounds times on fresh processes, what a root's
// failure and a publisher's reconnect cost (the failover issue, #13):
//   - kill -9 of the origin a stream is published on, with no backup: the
//     publisher republishes on another origin (retrying on 409), and a
//     relay's viewer keeps its session; the control plane is the two
//     origins' own, the relay on a's NATS. Reported: kill to republished, kill to media at the viewer,
//     the viewer's gap.
//   - a publisher that leaves (DELETE) and publishes again at once on the
//     same origin: new POST to media at a viewer of that origin.
func runOriginKill(ctx context.Context, originBin string, rounds int) error {
	relayBin := filepath.Join(filepath.Dir(originBin), "relay")
	logs, aus, err := failoverSetup("originkill")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logs)
	var republish, toMedia, gaps, reconnect []time.Duration
	steady := 0
	for round := 1; round <= rounds; round++ {
		r, m, g, ok, err := originKillRound(ctx, originBin, relayBin, logs, aus)
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		republish, toMedia, gaps = append(republish, r), append(toMedia, m), append(gaps, g)
		if ok {
			steady++
		}
		d, err := reconnectRound(ctx, originBin, logs, aus)
		if err != nil {
			return fmt.Errorf("round %d, reconnect: %w", round, err)
		}
		reconnect = append(reconnect, d)
	}
	q := quantileMS
	fmt.Printf("origin kill -9, no backup: %d rounds; publisher reconnect to the same origin: %d rounds\n", rounds, rounds)
	fmt.Println("measure                             p50_ms    max_ms")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"kill to republished on origin b", republish}, {"kill to media at the relay viewer", toMedia}, {"relay viewer's gap", gaps}, {"reconnect: new POST to media", reconnect}} {
		fmt.Printf("%-34s  %8.0f  %8.0f\n", row.name, q(row.d, 0.5), q(row.d, 1))
	}
	fmt.Printf("relay viewers that kept their session and SSRC: %d of %d\n", steady, rounds)
	return nil
}

func originKillRound(ctx context.Context, originBin, relayBin, logs string, aus [][]byte) (republish, toMedia, gap time.Duration, steady bool, err error) {
	f := &fleet{ctx: ctx, logs: logs, args: []string{"-log-level", "warn"}}
	defer f.close()
	set, err := nodeproc.NewOrigins("a", "b")
	if err != nil {
		return 0, 0, 0, false, err
	}
	var procs []*nodeproc.Proc
	for _, n := range []string{"a", "b"} {
		p, err := f.start(originBin, n, set.Options(n))
		if err != nil {
			return 0, 0, 0, false, err
		}
		procs = append(procs, p)
	}
	r, err := f.start(relayBin, "r1", nodeproc.Options{Args: []string{"-nats", procs[0].NATS, "-join", set.Join()}})
	if err != nil {
		return 0, 0, 0, false, err
	}
	procs = append(procs, r)
	a, b, r1 := procs[0], procs[1], procs[2]
	first, err := whipclient.Publish(ctx, a.Base+"/whip/moving", whipclient.Options{}, aus, nil)
	if err != nil {
		return 0, 0, 0, false, err
	}
	defer first.Close()
	v, err := whipclient.Watch(ctx, r1.Base+"/whep/moving", whipclient.Options{})
	if err != nil {
		return 0, 0, 0, false, err
	}
	defer v.Close()
	if err := until(ctx, 10*time.Second, func() bool { return v.Count() > 60 }); err != nil {
		return 0, 0, 0, false, fmt.Errorf("no video at the relay: %w", err)
	}
	a.Kill()
	kill := time.Now()
	p, republish, err := whipclient.PublishWhenFree(ctx, b.Base+"/whip/moving", whipclient.Options{}, aus, nil, 50*time.Millisecond, 20*time.Second)
	if err != nil {
		return 0, 0, 0, false, fmt.Errorf("republish on b: %w", err)
	}
	defer p.Close()
	var last, resumed time.Time
	if err := until(ctx, 20*time.Second, func() bool {
		var ok bool
		last, resumed, _, ok = v.Outage(kill)
		return ok && resumed.After(kill.Add(republish))
	}); err != nil {
		return 0, 0, 0, false, fmt.Errorf("no media at the relay after the republish: %w", err)
	}
	return republish, resumed.Sub(kill), resumed.Sub(last), v.Steady(), nil
}

func reconnectRound(ctx context.Context, originBin, logs string, aus [][]byte) (time.Duration, error) {
	o, err := nodeproc.Start(ctx, originBin, "origin", nodeproc.Options{LogDir: logs, Args: []string{"-log-level", "warn"}})
	if err != nil {
		return 0, err
	}
	defer o.Kill()
	p, err := whipclient.Publish(ctx, o.Base+"/whip/again", whipclient.Options{}, aus, nil)
	if err != nil {
		return 0, err
	}
	v, err := whipclient.Watch(ctx, o.Base+"/whep/again", whipclient.Options{})
	if err != nil {
		p.Close()
		return 0, err
	}
	defer v.Close()
	if err := until(ctx, 10*time.Second, func() bool { return v.Count() > 60 }); err != nil {
		p.Close()
		return 0, fmt.Errorf("no video at the viewer: %w", err)
	}
	p.Close()
	post := time.Now()
	again, err := whipclient.Publish(ctx, o.Base+"/whip/again", whipclient.Options{}, aus, nil)
	if err != nil {
		return 0, err
	}
	defer again.Close()
	var resumed time.Time
	if err := until(ctx, 10*time.Second, func() bool {
		var ok bool
		_, resumed, _, ok = v.Outage(post)
		return ok
	}); err != nil {
		return 0, fmt.Errorf("no media at the viewer after the reconnect: %w", err)
	}
	return resumed.Sub(post), nil
}

// until polls cond every 20 ms for at most d.
func until(ctx context.Context, d time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
