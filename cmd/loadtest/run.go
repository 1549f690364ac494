package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/relaymesh/relaymesh/internal/mediatest"
)

type runParams struct {
	viewers           int
	duration, warmup  time.Duration
	origin            string
	httpPort, udpPort int
	extra             []string
	light             bool           // light viewers (light.go)
	pin               bool           // the origin on CPU 0 alone (taskset)
	media             mediatest.Spec // zero: mediatest.HD
}

type result struct {
	delivery, loss float64
	p50, p99       time.Duration
	cpuMilli       float64
	userMilli      float64 // of cpuMilli, in user space
	rssMB          float64
	rssPerViewerMB float64
	drops          uint64
	sampled, good  uint64  // light viewers: packets handed to pion to decrypt, and those it decrypted
	burst          float64 // mean datagrams per egress burst
	egressOwn      uint64  // viewer sessions the node's own SRTP egress sent (0 on a build without it)
}

// run measures one viewer count against a fresh origin process.
func run(ctx context.Context, p runParams) (*result, error) {
	base := fmt.Sprintf("http://127.0.0.1:%d", p.httpPort)
	start := startNode
	if p.pin {
		start = startPinned
	}
	cmd, err := start(ctx, p.origin, p.httpPort, p.udpPort, append([]string{"-node-id", "loadtest"}, p.extra...)...)
	if err != nil {
		return nil, err
	}
	defer stopNode(cmd)

	if p.media.FPS == 0 {
		p.media = mediatest.HD
	}
	pub, err := newPublisherOf(ctx, base+"/whip/load", p.media)
	if err != nil {
		return nil, err
	}
	defer pub.close()
	defer pub.start(ctx)()
	time.Sleep(2 * time.Second)
	baseRSS, err := rssBytes(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}

	vs, err := connectViewersAs(ctx, base+"/whep/load", p.viewers, pub, p.light)
	defer vs.close()
	if err != nil {
		return nil, err
	}
	time.Sleep(p.warmup)

	user0, sys0, err := cpuSplit(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	drops0 := serverDrops(base)
	bursts0, datagrams0 := metricSum(base, "relaymesh_egress_bursts_total"), metricSum(base, "relaymesh_egress_burst_datagrams_total")
	t0 := time.Now()
	pub.window.open()
	time.Sleep(p.duration)
	pub.window.shut()
	wall := time.Since(t0)
	user1, sys1, _ := cpuSplit(cmd.Process.Pid)
	rss, _ := rssBytes(cmd.Process.Pid)
	var burst float64 // mean datagrams per burst in the window; 0 without -gso (or a build without it)
	if b := metricSum(base, "relaymesh_egress_bursts_total") - bursts0; b > 0 {
		burst = float64(metricSum(base, "relaymesh_egress_burst_datagrams_total")-datagrams0) / float64(b)
	}
	time.Sleep(time.Second) // the last packets of the window arrive

	sent := pub.window.sent.Load()
	if sent == 0 {
		return nil, errors.New("the publisher sent nothing during the window")
	}
	got := vs.windowReceived()
	delivery := float64(got) / float64(sent*uint64(p.viewers))
	p50, p99 := vs.hist.quantile(0.50), vs.hist.quantile(0.99)
	var sampled, good uint64
	if vs.light != nil {
		sampled, good = vs.light.sampled.Load(), vs.light.decrypt.Load()
	}
	return &result{
		sampled: sampled, good: good, burst: burst,
		egressOwn: metricSum(base, "relaymesh_egress_sessions_total", `sender="node"`),
		delivery:  delivery, loss: 1 - delivery, p50: p50, p99: p99,
		cpuMilli:       (user1 + sys1 - user0 - sys0) / wall.Seconds() * 1000,
		userMilli:      (user1 - user0) / wall.Seconds() * 1000,
		rssMB:          float64(rss) / 1e6,
		rssPerViewerMB: float64(rss-baseRSS) / 1e6 / float64(p.viewers),
		drops:          serverDrops(base) - drops0,
	}, nil
}

// startPinned is startNode with the node on CPU 0 alone (taskset), so
// that its CPU is one core's and the load tool's work is elsewhere.
func startPinned(ctx context.Context, bin string, httpPort, udpPort int, extra ...string) (*exec.Cmd, error) {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return nil, errors.New("-pin needs taskset (util-linux)")
	}
	return startCmd(ctx, httpPort, taskset, append([]string{"-c", "0", bin}, nodeArgs(httpPort, udpPort, extra...)...))
}

// startNode runs a node binary on loopback and waits until it is ready.
func startNode(ctx context.Context, bin string, httpPort, udpPort int, extra ...string) (*exec.Cmd, error) {
	return startCmd(ctx, httpPort, bin, nodeArgs(httpPort, udpPort, extra...))
}

func nodeArgs(httpPort, udpPort int, extra ...string) []string {
	return append([]string{"-http", "127.0.0.1:" + strconv.Itoa(httpPort),
		"-webrtc-udp", "127.0.0.1:" + strconv.Itoa(udpPort), "-gossip", "127.0.0.1:0", "-rtsp", "", "-rtmp", "", "-log-level", "warn", "-max-sessions", "5000"}, extra...)
}

func startCmd(ctx context.Context, httpPort int, bin string, args []string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w (run make build first)", bin, err)
	}
	if err := waitReady(ctx, fmt.Sprintf("http://127.0.0.1:%d", httpPort)); err != nil {
		stopNode(cmd)
		return nil, err
	}
	return cmd, nil
}

func stopNode(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
}

func waitReady(ctx context.Context, base string) error {
	for i := 0; i < 100; i++ {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("the origin did not become ready in 10 s")
}
