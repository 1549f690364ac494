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

// runFailover measures self-healing with the real binaries, rounds times on
// a fresh cluster: origin → r1 → r2 (fan-out 1, so the relays chain
// themselves), n viewers on r2, then kill -9 of r1. For every viewer it
// reports the media gap, the time from the kill to media and to the first
// keyframe (the publisher makes one on PLI, as encoders do), and whether it
// kept its session.
func runFailover(ctx context.Context, p runParams, n, rounds int) error {
	relayBin := filepath.Join(filepath.Dir(p.origin), "relay")
	logs, err := os.MkdirTemp("", "relaymesh-failover")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logs)
	var gaps, toMedia, toKey []time.Duration
	steady := 0
	for round := 1; round <= rounds; round++ {
		g, m, k, s, err := failoverRound(ctx, p.origin, relayBin, logs, n)
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		gaps, toMedia, toKey = append(gaps, g...), append(toMedia, m...), append(toKey, k...)
		steady += s
	}
	q := quantileMS
	fmt.Printf("failover after kill -9 of the middle relay: %d rounds x %d viewers, memberlist failure detection ~0.75 s\n", rounds, n)
	fmt.Println("measure              p50_ms    p99_ms    max_ms")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"media gap", gaps}, {"kill to media", toMedia}, {"kill to keyframe", toKey}} {
		fmt.Printf("%-18s  %8.0f  %8.0f  %8.0f\n", row.name, q(row.d, 0.5), q(row.d, 0.99), q(row.d, 1))
	}
	fmt.Printf("viewers that kept their session and SSRC: %d of %d\n", steady, rounds*n)
	return nil
}

func failoverRound(ctx context.Context, originBin, relayBin, logs string, n int) (gaps, toMedia, toKey []time.Duration, steady int, err error) {
	origin, err := nodeproc.Start(ctx, originBin, "origin", nodeproc.Options{ExposeNATS: true, LogDir: logs, Args: []string{"-max-children", "1", "-log-level", "warn", "-whep-redirect=false"}})
	if err != nil {
		return nil, nil, nil, 0, err
	}
	defer origin.Kill()
	var relays []*nodeproc.Proc
	for _, name := range []string{"r1", "r2"} {
		r, err := nodeproc.Start(ctx, relayBin, name, nodeproc.Options{LogDir: logs,
			Args: []string{"-nats", origin.NATS, "-join", origin.Gossip, "-max-children", "1", "-log-level", "warn", "-whep-redirect=false"}})
		if err != nil {
			return nil, nil, nil, 0, err
		}
		defer r.Kill()
		relays = append(relays, r)
	}
	time.Sleep(500 * time.Millisecond) // gossip: r2 must see r1 to choose it
	pub, err := newPublisher(ctx, origin.Base+"/whip/failover")
	if err != nil {
		return nil, nil, nil, 0, err
	}
	defer pub.close()
	defer pub.start(ctx)()
	first, err := whipclient.Watch(ctx, relays[0].Base+"/whep/failover", whipclient.Options{Light: true})
	if err != nil {
		return nil, nil, nil, 0, err
	}
	defer first.Close() // r1's own viewer: r1 → origin
	var ws []*whipclient.Watcher
	for range n {
		w, err := whipclient.Watch(ctx, relays[1].Base+"/whep/failover", whipclient.Options{Light: true})
		if err != nil {
			return nil, nil, nil, 0, err
		}
		defer w.Close()
		ws = append(ws, w)
	}
	time.Sleep(3 * time.Second)
	for _, w := range ws {
		if w.Count() == 0 {
			return nil, nil, nil, 0, fmt.Errorf("a viewer at r2 received nothing before the kill")
		}
	}
	kill := time.Now()
	relays[0].Kill()
	time.Sleep(5 * time.Second)
	for _, w := range ws {
		last, resumed, key, ok := w.Outage(kill)
		if !ok {
			return nil, nil, nil, 0, fmt.Errorf("a viewer at r2 got no media or no keyframe within 5 s of the kill")
		}
		gaps, toMedia, toKey = append(gaps, resumed.Sub(last)), append(toMedia, resumed.Sub(kill)), append(toKey, key.Sub(kill))
		if w.Steady() {
			steady++
		}
	}
	return gaps, toMedia, toKey, steady, nil
}
