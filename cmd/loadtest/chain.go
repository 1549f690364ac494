package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/codec"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// runChain measures a chain origin → r1 → … → rN of relay processes (static
// upstreams): latency at every depth, the time to first frame on a cold
// relay at the deepest level, and each node's CPU.
func runChain(ctx context.Context, p runParams, depth, perDepth int) error {
	relayBin := filepath.Join(filepath.Dir(p.origin), "relay")
	origin, err := startNode(ctx, p.origin, p.httpPort, p.udpPort, "-node-id", "origin")
	if err != nil {
		return err
	}
	defer stopNode(origin)
	nodes := []*processNode{{name: "origin", pid: origin.Process.Pid, base: fmt.Sprintf("http://127.0.0.1:%d", p.httpPort)}}
	for d := 1; d <= depth; d++ {
		h, u := p.httpPort+d, p.udpPort+d
		cmd, err := startNode(ctx, relayBin, h, u, "-node-id", "r"+strconv.Itoa(d), "-upstream", nodes[d-1].base)
		if err != nil {
			return err
		}
		defer stopNode(cmd)
		nodes = append(nodes, &processNode{name: "r" + strconv.Itoa(d), pid: cmd.Process.Pid, base: fmt.Sprintf("http://127.0.0.1:%d", h)})
	}
	pub, err := newPublisher(ctx, nodes[0].base+"/whip/load")
	if err != nil {
		return err
	}
	defer pub.close()
	defer pub.start(ctx)()
	time.Sleep(time.Second)

	// The chain is cold: nothing below the origin carries the stream yet.
	firstPacket, firstKey, err := timeToFirstFrame(ctx, nodes[depth].base+"/whep/load")
	if err != nil {
		return fmt.Errorf("first frame at depth %d: %w", depth, err)
	}
	fmt.Printf("cold relay at depth %d: first video packet after %v, first keyframe after %v (the publisher jumps to its next IDR on PLI)\n",
		depth, firstPacket.Round(time.Millisecond), firstKey.Round(time.Millisecond))

	for _, n := range nodes {
		if n.viewers, err = connectViewers(ctx, n.base+"/whep/load", perDepth, pub); err != nil {
			return err
		}
		defer n.viewers.close()
	}
	time.Sleep(p.warmup)
	for _, n := range nodes {
		n.cpu0, _ = cpuSeconds(n.pid)
	}
	t0 := time.Now()
	pub.window.open()
	time.Sleep(p.duration)
	pub.window.shut()
	wall := time.Since(t0)
	for _, n := range nodes {
		n.cpu1, _ = cpuSeconds(n.pid)
	}
	time.Sleep(time.Second)
	sent := pub.window.sent.Load()
	fmt.Println("depth  node    viewers  delivery  p50_ms  p99_ms  node_cpu_mcores")
	for d, n := range nodes {
		got := n.viewers.windowReceived()
		fmt.Printf("%5d  %-6s  %7d  %7.3f%%  %6.2f  %6.2f  %15.0f\n", d, n.name, perDepth,
			float64(got)/float64(sent*uint64(perDepth))*100,
			n.viewers.hist.quantile(0.5).Seconds()*1000, n.viewers.hist.quantile(0.99).Seconds()*1000,
			(n.cpu1-n.cpu0)/wall.Seconds()*1000)
	}
	return nil
}

type processNode struct {
	name       string
	pid        int
	base       string
	viewers    *viewers
	cpu0, cpu1 float64
}

// timeToFirstFrame asks for the stream at url and times the first video
// packet and the first keyframe packet from the moment of the request.
func timeToFirstFrame(ctx context.Context, url string) (first, key time.Duration, err error) {
	api, err := whipclient.NewAPI(whipclient.Options{Light: true})
	if err != nil {
		return 0, 0, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return 0, 0, err
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return 0, 0, err
	}
	type times struct{ first, key time.Duration }
	got := make(chan times, 1)
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var t times
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				if t.first == 0 {
					t.first = time.Since(start)
				}
				if codec.IsKeyframe("video/H264", p.Payload) {
					t.key = time.Since(start)
					got <- t
					return
				}
			}
		}()
	})
	if _, err := whipclient.Offer(ctx, url, pc, whipclient.Options{}); err != nil {
		return 0, 0, err
	}
	select {
	case t := <-got:
		return t.first, t.key, nil
	case <-time.After(10 * time.Second):
		return 0, 0, fmt.Errorf("no keyframe within 10 s")
	}
}
