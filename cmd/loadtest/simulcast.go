package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/shaper"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// The simulcast ladder measured: at 200 frames a second of one packet
// each (about the packet rate of a 2 Mbit/s camera), about 2.0 Mbit/s,
// 740 kbit/s and 240 kbit/s with their headers: the 1280x720,
// 640x360 and 320x180 ladder, within what one packet a frame carries.
var (
	benchLadder = []whipclient.Layer{{RID: "l", FrameSize: 110}, {RID: "m", FrameSize: 420}, {RID: "h", FrameSize: 1200}}
	benchTop    = benchLadder[2:]
)

const benchFPS = 200

// freezeGap is a freeze in the sense of the W3C webrtc-stats
// freezeCount: a gap between frames over max(3δ, δ+150 ms), with δ the
// frame interval of a 30 fps video (about 183 ms).
const freezeGap = 183 * time.Millisecond

// runSimulcast measures simulcast (#15) on fresh processes: how an
// automatic viewer's layer follows a link cut to 600 kbit/s and lifted
// again (rounds times), how often it freezes meanwhile, what an automatic
// simulcast viewer costs the origin against a viewer of one layer, and
// what carrying every layer costs a relay link.
func runSimulcast(ctx context.Context, originBin string, rounds, viewers int) error {
	logs, err := os.MkdirTemp("", "relaymesh-simulcast")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logs)
	f := &fleet{ctx: ctx, logs: logs, args: []string{"-log-level", "warn"}}
	defer f.close()
	origin, err := f.start(originBin, "origin", nodeproc.Options{ExposeNATS: true})
	if err != nil {
		return err
	}
	pub, err := whipclient.PublishSimulcast(ctx, origin.Base+"/whip/ladder", whipclient.Options{}, benchLadder, benchFPS)
	if err != nil {
		return err
	}
	defer pub.Close()
	time.Sleep(2 * time.Second) // the layers' bitrates are measured
	fmt.Printf("simulcast: layers l, m, h of about 240, 740 and 2000 kbit/s; one automatic viewer behind a shaper (100 ms of queue)\n")
	fmt.Println("round  down_s  frozen_per_min  on_layer  up_s")
	for r := 1; r <= rounds; r++ {
		down, freezes, settled, up, err := followRound(ctx, origin)
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		fmt.Printf("%5d  %6.1f  %14d  %8s  %4.1f\n", r, down.Seconds(), freezes, settled, up.Seconds())
	}
	fmt.Println("down_s: from the cut to 600 kbit/s to the first packet of a lower layer; frozen_per_min: gaps over 183 ms in the minute after it; up_s: from the lift to the first packet of the top layer")

	on, err := viewerCPU(ctx, origin, "ladder", viewers)
	if err != nil {
		return err
	}
	single, err := whipclient.PublishSimulcast(ctx, origin.Base+"/whip/single", whipclient.Options{}, benchTop, benchFPS)
	if err != nil {
		return err
	}
	defer single.Close()
	off, err := viewerCPU(ctx, origin, "single", viewers)
	if err != nil {
		return err
	}
	fmt.Printf("simulcast: origin CPU per viewer, %d full pion viewers (TWCC, NACK, reports), 15 s\n", viewers)
	fmt.Printf("automatic viewers of the 3-layer stream (estimate, padding probes): %.2f mcores/viewer\n", on)
	fmt.Printf("viewers of its top layer alone, published without simulcast:       %.2f mcores/viewer\n", off)

	all, top, err := linkCost(ctx, f, originBin, origin)
	if err != nil {
		return err
	}
	fmt.Printf("simulcast: a relay's link carries every layer: %.0f kbit/s, against %.0f kbit/s for the top layer alone (+%.0f%%)\n",
		all/1000, top/1000, 100*(all-top)/top)
	return nil
}

// followRound connects a viewer of the ladder through a shaper, waits for
// the top layer, cuts the link to 600 kbit/s for a minute, lifts it, and
// times what follows.
func followRound(ctx context.Context, origin *nodeproc.Proc) (down time.Duration, freezes int, settled string, up time.Duration, err error) {
	sh, err := shaper.New(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: origin.UDP}, 0, 100*time.Millisecond)
	if err != nil {
		return 0, 0, "", 0, err
	}
	defer sh.Close()
	w, err := whipclient.Watch(ctx, origin.Base+"/whep/ladder", whipclient.Options{KeepPayloads: true, Offer: shaper.HideClient, Answer: sh.Rewrite})
	if err != nil {
		return 0, 0, "", 0, err
	}
	defer w.Close()
	layerAt := func(since time.Time, want func(string) bool) (time.Duration, error) {
		for deadline := since.Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			v := w.Video()
			for i := len(v) - 1; i >= 0 && v[i].At.After(since); i-- {
				if rid, _, _, _ := whipclient.ParseSimulcastFrame(v[i].Payload); want(rid) {
					for i > 0 && v[i-1].At.After(since) {
						if rid, _, _, _ := whipclient.ParseSimulcastFrame(v[i-1].Payload); !want(rid) {
							break
						}
						i--
					}
					return v[i].At.Sub(since), nil
				}
			}
		}
		return 0, errors.New("not within 90 s")
	}
	if _, err := layerAt(time.Now(), func(rid string) bool { return rid == "h" }); err != nil {
		return 0, 0, "", 0, fmt.Errorf("the viewer never reached the top layer: %w", err)
	}
	time.Sleep(3 * time.Second)
	cut := time.Now()
	sh.SetRate(600_000)
	if down, err = layerAt(cut, func(rid string) bool { return rid != "h" }); err != nil {
		return 0, 0, "", 0, fmt.Errorf("the viewer never stepped down: %w", err)
	}
	from := cut.Add(down)
	time.Sleep(time.Until(from.Add(time.Minute)))
	v := w.Video()
	last := from
	counts := map[string]int{}
	for _, a := range v {
		if a.At.Before(from) {
			continue
		}
		if a.At.Sub(last) > freezeGap {
			freezes++
		}
		last = a.At
		rid, _, _, _ := whipclient.ParseSimulcastFrame(a.Payload)
		counts[rid]++
	}
	for rid, n := range counts {
		if settled == "" || n > counts[settled] {
			settled = rid
		}
	}
	lift := time.Now()
	sh.SetRate(0)
	if up, err = layerAt(lift, func(rid string) bool { return rid == "h" }); err != nil {
		return 0, 0, "", 0, fmt.Errorf("the viewer never climbed back: %w", err)
	}
	return down, freezes, settled, up, nil
}

// viewerCPU is the origin's CPU per viewer of stream: n viewers against
// none, 15 s each, after their estimates have had 25 s to climb.
func viewerCPU(ctx context.Context, origin *nodeproc.Proc, stream string, n int) (float64, error) {
	busy := func() (float64, error) {
		a, err := cpuSeconds(origin.PID)
		if err != nil {
			return 0, err
		}
		time.Sleep(15 * time.Second)
		b, err := cpuSeconds(origin.PID)
		return (b - a) / 15 * 1000, err
	}
	idle, err := busy()
	if err != nil {
		return 0, err
	}
	var ws []*whipclient.Watcher
	defer func() {
		for _, w := range ws {
			w.Close()
		}
	}()
	for range n {
		w, err := whipclient.Watch(ctx, origin.Base+"/whep/"+stream, whipclient.Options{})
		if err != nil {
			return 0, err
		}
		ws = append(ws, w)
	}
	time.Sleep(25 * time.Second)
	loaded, err := busy()
	if err != nil {
		return 0, err
	}
	return (loaded - idle) / float64(n), nil
}

// linkCost starts a relay under origin with a viewer of the ladder and
// reads the relay's layers' bitrates: what its link carries, all of them,
// and the top layer alone.
func linkCost(ctx context.Context, f *fleet, originBin string, origin *nodeproc.Proc) (all, top float64, err error) {
	relayBin := filepath.Join(filepath.Dir(originBin), "relay")
	relay, err := f.start(relayBin, "r1", nodeproc.Options{Args: []string{"-nats", origin.NATS, "-join", origin.Gossip}})
	if err != nil {
		return 0, 0, err
	}
	w, err := whipclient.Watch(ctx, relay.Base+"/whep/ladder", whipclient.Options{Light: true})
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	time.Sleep(5 * time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", relay.Base+"/api/streams", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	var body struct {
		Streams []struct {
			Name   string
			Tracks []struct {
				Layer   string
				Bitrate float64 `json:"bitrate_bps"`
			}
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return 0, 0, err
	}
	layers := 0
	for _, s := range body.Streams {
		if s.Name != "ladder" {
			continue
		}
		for _, t := range s.Tracks {
			if t.Layer == "" {
				continue
			}
			layers++
			all += t.Bitrate
			top = max(top, t.Bitrate)
		}
	}
	if layers != len(benchLadder) || top == 0 {
		return 0, 0, fmt.Errorf("the relay carries %d layers, want %d", layers, len(benchLadder))
	}
	return all, top, nil
}
