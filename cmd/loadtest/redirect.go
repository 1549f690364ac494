package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// runRedirect measures WHEP redirects (#16) on fresh processes:
//   - what a redirect adds to a viewer's time to first frame: n viewers, one
//     at a time, alternately POST to a warm relay directly and to the
//     origin, which redirects them to that relay;
//   - how viewers spread: spread viewers POST to the origin, which sends
//     them to five relays of -max-viewers 80, all carrying the stream.
func runRedirect(ctx context.Context, originBin string, n, spread int) error {
	relayBin := filepath.Join(filepath.Dir(originBin), "relay")
	logs, aus, err := failoverSetup("redirect")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logs)
	direct, redirected, err := redirectCost(ctx, originBin, relayBin, logs, aus, n)
	if err != nil {
		return fmt.Errorf("time to first frame: %w", err)
	}
	q := quantileMS
	fmt.Printf("WHEP redirect: time from POST to the first video packet, %d viewers each way, one at a time\n", n)
	fmt.Println("viewers                              p50_ms    p90_ms    max_ms")
	fmt.Printf("%-35s  %8.1f  %8.1f  %8.1f\n", "POST to the warm relay", q(direct, 0.5), q(direct, 0.9), q(direct, 1))
	fmt.Printf("%-35s  %8.1f  %8.1f  %8.1f\n", "POST to the origin, 307 to it", q(redirected, 0.5), q(redirected, 0.9), q(redirected, 1))
	fmt.Printf("the redirect adds %.1f ms at p50\n", q(redirected, 0.5)-q(direct, 0.5))

	counts, refused, took, err := redirectSpread(ctx, originBin, relayBin, logs, aus, spread)
	if err != nil {
		return fmt.Errorf("spread: %w", err)
	}
	fmt.Printf("WHEP redirect: %d viewers POST to the origin; 5 warm relays of -max-viewers 80 (joined in %.1f s)\n", spread, took.Seconds())
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range counts {
			if !yield(k) {
				return
			}
		}
	})
	lo, hi := spread, 0
	for _, r := range []string{"r1", "r2", "r3", "r4", "r5"} {
		lo, hi = min(lo, counts[r]), max(hi, counts[r])
	}
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	fmt.Printf("viewers per node: %s; refused %d\n", strings.Join(parts, ", "), refused)
	fmt.Printf("spread over the relays: fewest %d, most %d (even: %d)\n", lo, hi, spread/5)
	return nil
}

// firstFrame connects a viewer at url and returns how long the first video
// packet took from the POST, and the node's base its session is on.
func firstFrame(ctx context.Context, url string, light bool) (time.Duration, *whipclient.Watcher, error) {
	start := time.Now()
	w, err := whipclient.Watch(ctx, url, whipclient.Options{Light: light})
	if err != nil {
		return 0, nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if v := w.Video(); len(v) > 0 {
			return v[0].At.Sub(start), w, nil
		}
		if time.Now().After(deadline) {
			w.Close()
			return 0, nil, errors.New("no video within 10 s")
		}
	}
}

func redirectCost(ctx context.Context, originBin, relayBin, logs string, aus [][]byte, n int) (direct, redirected []time.Duration, err error) {
	f := &fleet{ctx: ctx, logs: logs, args: []string{"-log-level", "warn"}, redirect: true}
	defer f.close()
	origin, err := f.start(originBin, "origin", nodeproc.Options{ExposeNATS: true, Args: []string{"-max-viewers", "1"}})
	if err != nil {
		return nil, nil, err
	}
	relay, err := f.start(relayBin, "r1", nodeproc.Options{Args: []string{"-nats", origin.NATS, "-join", origin.Gossip, "-pin", "cost"}})
	if err != nil {
		return nil, nil, err
	}
	p, err := whipclient.Publish(ctx, origin.Base+"/whip/cost", whipclient.Options{}, aus, nil)
	if err != nil {
		return nil, nil, err
	}
	defer p.Close()
	// The relay is warm once a viewer marked as redirected plays there.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, w, err := firstFrame(ctx, relay.Base+"/whep/cost?redirected=1", false); err == nil {
			w.Close()
			break
		}
		if time.Now().After(deadline) {
			return nil, nil, errors.New("the relay never carried the stream")
		}
	}
	if err := waitWarm(ctx, origin.Base, "cost", "r1"); err != nil {
		return nil, nil, err
	}
	for i := 0; i < 2*n; i++ {
		url := relay.Base + "/whep/cost?redirected=1"
		if i%2 == 1 {
			url = origin.Base + "/whep/cost"
		}
		d, w, err := firstFrame(ctx, url, false)
		if err != nil {
			return nil, nil, fmt.Errorf("viewer %d: %w", i, err)
		}
		on := strings.HasPrefix(w.Session.Location, relay.Base)
		w.Close()
		if !on {
			return nil, nil, fmt.Errorf("viewer %d of %s is on %s, not the relay", i, url, w.Session.Location)
		}
		if i%2 == 1 {
			redirected = append(redirected, d)
		} else {
			direct = append(direct, d)
		}
	}
	return direct, redirected, nil
}

// waitWarm waits until the origin's directory shows node pulling stream.
func waitWarm(ctx context.Context, base, stream, node string) error {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/topology", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var topo struct {
			Streams []struct {
				Name  string
				Edges []struct{ Child string }
			}
		}
		err = json.NewDecoder(res.Body).Decode(&topo)
		res.Body.Close()
		if err != nil {
			continue
		}
		for _, s := range topo.Streams {
			for _, e := range s.Edges {
				if s.Name == stream && e.Child == node {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("%s never joined %s's tree", node, stream)
}

func redirectSpread(ctx context.Context, originBin, relayBin, logs string, aus [][]byte, n int) (map[string]int, int, time.Duration, error) {
	f := &fleet{ctx: ctx, logs: logs, args: []string{"-log-level", "warn", "-session-rate", "1000", "-half-open", "1000"}, redirect: true}
	defer f.close()
	origin, err := f.start(originBin, "origin", nodeproc.Options{ExposeNATS: true, Args: []string{"-max-viewers", "1"}})
	if err != nil {
		return nil, 0, 0, err
	}
	bases := map[string]string{origin.Base: "origin"}
	for i := 1; i <= 5; i++ {
		name := fmt.Sprintf("r%d", i)
		r, err := f.start(relayBin, name, nodeproc.Options{Args: []string{"-nats", origin.NATS, "-join", origin.Gossip, "-pin", "spread", "-max-viewers", "80"}})
		if err != nil {
			return nil, 0, 0, err
		}
		bases[r.Base] = name
	}
	p, err := whipclient.Publish(ctx, origin.Base+"/whip/spread", whipclient.Options{}, aus, nil)
	if err != nil {
		return nil, 0, 0, err
	}
	defer p.Close()
	for i := 1; i <= 5; i++ {
		if err := waitWarm(ctx, origin.Base, "spread", fmt.Sprintf("r%d", i)); err != nil {
			return nil, 0, 0, err
		}
	}
	var (
		mu      sync.Mutex
		counts  = map[string]int{}
		refused int
		ws      []*whipclient.Watcher
		wg      sync.WaitGroup
		errOnce error
	)
	defer func() {
		for _, w := range ws {
			w.Close()
		}
	}()
	start := time.Now()
	sem := make(chan struct{}, 8) // eight viewers joining at a time
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w, err := whipclient.Watch(ctx, origin.Base+"/whep/spread", whipclient.Options{Light: true})
			mu.Lock()
			defer mu.Unlock()
			var se *whipclient.StatusError
			switch {
			case errors.As(err, &se) && se.Status == http.StatusServiceUnavailable:
				refused++
			case err != nil:
				errOnce = err
			default:
				ws = append(ws, w)
				u, _ := url.Parse(w.Session.Location)
				counts[bases[u.Scheme+"://"+u.Host]]++
			}
		}()
	}
	wg.Wait()
	return counts, refused, time.Since(start), errOnce
}
