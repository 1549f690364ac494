package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"
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
	net               *benchNet      // nil: loopback; else the origin behind a veth pair (netns.go)
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
	base := "http://" + net.JoinHostPort(p.host(), strconv.Itoa(p.httpPort))
	cmd, err := startOrigin(ctx, p, base, append([]string{"-node-id", "loadtest"}, p.extra...)...)
	if err != nil {
		return nil, err
	}
	defer stopNode(cmd)

	if p.media.FPS == 0 {
		p.media = mediatest.HD
	}
	pub, err := newPublisherOn(ctx, base+"/whip/load", p.media, p.settings())
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

	vs, err := connectViewersAs(ctx, base+"/whep/load", p.viewers, pub, p.light, p.local())
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

// host is the origin's address: loopback, or its end of the -veth pair.
func (p runParams) host() string {
	if p.net != nil {
		return p.net.node.String()
	}
	return "127.0.0.1"
}

// local is the tool's address: loopback, or its end of the -veth pair.
func (p runParams) local() net.IP {
	if p.net != nil {
		return p.net.local
	}
	return net.IPv4(127, 0, 0, 1)
}

// settings is the publisher's SettingEngine: nil (whipclient's loopback
// one), or the tool's end of the -veth pair.
func (p runParams) settings() *webrtc.SettingEngine {
	if p.net != nil {
		return p.net.settings()
	}
	return nil
}

// startOrigin runs p's origin and waits until it is ready: alone on CPU 0
// (taskset) if p.pin, in the -veth namespace if p.net.
func startOrigin(ctx context.Context, p runParams, base string, extra ...string) (*exec.Cmd, error) {
	bin, args := p.origin, nodeArgs(p.host(), p.httpPort, p.udpPort, extra...)
	if p.pin {
		taskset, err := exec.LookPath("taskset")
		if err != nil {
			return nil, errors.New("-pin needs taskset (util-linux)")
		}
		bin, args = taskset, append([]string{"-c", "0", bin}, args...)
	}
	if p.net != nil {
		bin, args = p.net.exec(bin, args)
	}
	return startCmd(ctx, base, bin, args)
}

// startNode runs a node binary on loopback and waits until it is ready.
func startNode(ctx context.Context, bin string, httpPort, udpPort int, extra ...string) (*exec.Cmd, error) {
	return startCmd(ctx, fmt.Sprintf("http://127.0.0.1:%d", httpPort), bin, nodeArgs("127.0.0.1", httpPort, udpPort, extra...))
}

func nodeArgs(host string, httpPort, udpPort int, extra ...string) []string {
	return append([]string{"-http", net.JoinHostPort(host, strconv.Itoa(httpPort)),
		"-webrtc-udp", net.JoinHostPort(host, strconv.Itoa(udpPort)), "-gossip", "127.0.0.1:0", "-rtsp", "", "-rtmp", "", "-log-level", "warn", "-max-sessions", "5000"}, extra...)
}

func startCmd(ctx context.Context, base, bin string, args []string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w (run make build first)", bin, err)
	}
	if err := waitReady(ctx, base); err != nil {
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
