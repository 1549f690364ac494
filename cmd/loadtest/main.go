// Command loadtest measures a node under a broadcast load: it starts
// bin/origin as a child process, publishes a real 720p30 2 Mbit/s H.264 +
// Opus stream by WHIP and attaches N WHEP viewers, then reports delivery,
// loss, per-packet latency (publisher send to viewer receive) and the
// server's CPU and memory, per viewer. It stops by itself.
//
//	loadtest -viewers 50,100,200 -duration 20s
//	loadtest -chain 3 -per-depth 10     latency per relay hop, cold first frame
//	loadtest -failover 5 -below 10      kill -9 of a middle relay: gap below it
//	loadtest -ingest 4 -duration 15s     RTMP ingest: added latency, CPU per stream
//	loadtest -abuse 15000                 idle connections, offer bursts, half-open offers, a NACK flood
//	loadtest -record                      recordings of each kind of publisher, and what a kill -9 loses
//	loadtest -origin-kill 5               kill -9 of a stream's origin (republish elsewhere), publisher reconnect
//	loadtest -backup 5                    kill -9 of an origin whose stream has a backup publisher, and the switch back
//	loadtest -drain 5                     a relay draining: the gap and the frames lost below it
//	loadtest -rebalance 3                 failures that sink a tree past its depth bound: time to rebalance
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

func main() {
	var (
		viewers  = flag.String("viewers", "50,100,200", "comma-separated viewer counts, one run each")
		duration = flag.Duration("duration", 20*time.Second, "measurement window of each run")
		warmup   = flag.Duration("warmup", 3*time.Second, "time after the last viewer joined before measuring")
		origin   = flag.String("origin", "", "path to the origin binary (default: origin next to this binary)")
		httpPort = flag.Int("http-port", 18080, "origin HTTP port on 127.0.0.1")
		udpPort  = flag.Int("udp-port", 18189, "origin media UDP port on 127.0.0.1")
		extra    = flag.String("origin-args", "", "extra space-separated flags for the origin (e.g. -pprof)")
		chain    = flag.Int("chain", 0, "instead: a chain of this many relay processes below the origin, viewers at every depth")
		perDepth = flag.Int("per-depth", 10, "with -chain: viewers at each depth")
		failover = flag.Int("failover", 0, "instead: this many rounds of kill -9 of a middle relay, measuring the viewers' gap below it")
		below    = flag.Int("below", 10, "with -failover: viewers below the killed relay")
		ingest   = flag.Int("ingest", 0, "instead: RTMP ingest, latency added and origin CPU per stream with this many streams")
		floor    = flag.Int("floor", 0, "instead: the kernel's floor: a bare sender sends this many loopback sockets what the origin sends each viewer")
		oKill    = flag.Int("origin-kill", 0, "instead: this many rounds of kill -9 of a stream's origin with the publisher moving to another, and of a publisher reconnect")
		backup   = flag.Int("backup", 0, "instead: this many rounds of kill -9 of an origin whose stream has a backup publisher on another, and of the primary's return")
		rebal    = flag.Int("rebalance", 0, "instead: this many rounds of kill -9s that sink a tree of 16 relays past its depth bound, timing the rebalancing")
		drain    = flag.Int("drain", 0, "instead: this many rounds of a relay draining with a relay and its viewer below it")
		record   = flag.Bool("record", false, "instead: recordings of each kind of publisher, and what a kill -9 loses")
		abuse    = flag.Int("abuse", 0, "instead: the abuse figures, with this many idle connections")
		redirect = flag.Int("redirect", 0, "instead: WHEP redirects: the time to first frame they add (this many viewers each way), and how -spread viewers spread over 5 relays")
		spread   = flag.Int("spread", 300, "with -redirect: viewers spread over 5 relays of -max-viewers 80")
		simul    = flag.Int("simulcast", 0, "instead: simulcast: this many rounds of a viewer's link cut to 600 kbit/s and lifted, CPU per viewer with and without simulcast, and a relay link's cost")
		simulN   = flag.Int("simulcast-viewers", 30, "with -simulcast: viewers for the CPU figures")
		capacity = flag.Bool("capacity", false, "instead: with light viewers and the origin alone on CPU 0, each of -builds at each of -viewers (ascending), up to the first count below 99.5% delivered")
		builds   = flag.String("builds", "", "with -capacity: label=path origin binaries to compare, the first the reference (default: new=-origin)")
		media    = flag.String("media", "2M", "with -capacity: the stream, 2M (720p30) or 600k (360p30)")
		rounds   = flag.Int("rounds", 1, "with -capacity: run each count this many times, the builds alternating, and compare their mean CPU per viewer (one run's figure varies by about 10% on a shared machine)")
		veth     = flag.Bool("veth", false, "with -capacity: the origin in a network namespace of its own behind a veth pair, its viewers' receive path on the tool's CPUs as on a real network (netns.go), instead of loopback; needs root")
		light    = flag.Bool("light", false, "count packets from their cleartext RTP headers, decrypting one in 16 (light.go), instead of full pion viewers")
		pin      = flag.Bool("pin", false, "run the origin alone on CPU 0 (taskset); run the tool itself elsewhere, e.g. taskset -c 1")
		sendPlan = flag.String("floor-send", "", "internal: run as -floor's sender with this plan file")
	)
	flag.Parse()
	if *sendPlan != "" {
		if err := floorSend(*sendPlan); err != nil {
			fmt.Fprintf(os.Stderr, "loadtest: floor sender: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *floor > 0 {
		runMode("floor", usage(*floor > 1000, "-floor from 1 to 1000 sockets"), 3*(*duration)+time.Minute,
			func(ctx context.Context) error { return runFloor(ctx, *floor, *duration) })
		return
	}
	logrus.SetOutput(io.Discard) // go-rtmp's client chatter
	if *origin == "" {
		self, _ := os.Executable()
		*origin = filepath.Join(filepath.Dir(self), "origin")
	}
	var counts []int
	for _, s := range strings.Split(*viewers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 3000 {
			fmt.Fprintf(os.Stderr, "loadtest: -viewers %q: want counts from 1 to 3000\n", s)
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	switch {
	case *capacity:
		bs, err := parseBuilds(*builds, *origin)
		if err == nil && (*rounds < 1 || *rounds > 10) {
			err = errors.New("-rounds from 1 to 10")
		}
		runMode("capacity", usageErr(err), time.Duration(len(counts)**rounds)*time.Duration(max(1, len(bs)))*(*duration+*warmup+4*time.Minute),
			func(ctx context.Context) error {
				p := runParams{duration: *duration, warmup: *warmup, httpPort: *httpPort, udpPort: *udpPort, extra: strings.Fields(*extra)}
				if *veth {
					n, err := newBenchNet()
					if err != nil {
						return err
					}
					defer n.close()
					p.net = n
				}
				return runCapacity(ctx, bs, counts, *rounds, *media, p)
			})
		return
	case *oKill > 0:
		runMode("origin-kill", usage(*oKill > 20, "-origin-kill from 1 to 20 rounds"), time.Duration(*oKill)*time.Minute,
			func(ctx context.Context) error { return runOriginKill(ctx, *origin, *oKill) })
		return
	case *backup > 0:
		runMode("backup", usage(*backup > 20, "-backup from 1 to 20 rounds"), time.Duration(*backup)*time.Minute,
			func(ctx context.Context) error { return runBackup(ctx, *origin, *backup) })
		return
	case *rebal > 0:
		runMode("rebalance", usage(*rebal > 10, "-rebalance from 1 to 10 rounds"), time.Duration(*rebal)*2*time.Minute,
			func(ctx context.Context) error { return runRebalance(ctx, *origin, *rebal) })
		return
	case *drain > 0:
		runMode("drain", usage(*drain > 20, "-drain from 1 to 20 rounds"), time.Duration(*drain)*time.Minute,
			func(ctx context.Context) error { return runDrain(ctx, *origin, *drain) })
		return
	case *redirect > 0:
		runMode("redirect", usage(*redirect > 200 || *spread < 1 || *spread > 400, "-redirect from 1 to 200 viewers, -spread from 1 to 400"), 5*time.Minute,
			func(ctx context.Context) error { return runRedirect(ctx, *origin, *redirect, *spread) })
		return
	case *simul > 0:
		runMode("simulcast", usage(*simul > 10 || *simulN < 1 || *simulN > 100, "-simulcast from 1 to 10 rounds, -simulcast-viewers from 1 to 100"),
			time.Duration(*simul)*4*time.Minute+4*time.Minute,
			func(ctx context.Context) error { return runSimulcast(ctx, *origin, *simul, *simulN) })
		return
	case *record:
		runMode("record", "", 5*time.Minute, func(ctx context.Context) error { return runRecord(ctx, *origin) })
		return
	case *abuse > 0:
		runMode("abuse", usage(*abuse > 18000, "-abuse from 1 to 18000 connections (this process's descriptors)"), 5*time.Minute,
			func(ctx context.Context) error { return runAbuse(ctx, *origin, *abuse) })
		return
	case *ingest > 0:
		runMode("ingest", usage(*ingest > 50, "-ingest from 1 to 50 streams"), 3*(*duration)+2*time.Minute,
			func(ctx context.Context) error {
				return runIngest(ctx, runParams{origin: *origin, duration: *duration}, *ingest)
			})
		return
	case *failover > 0:
		runMode("failover", usage(*failover > 20 || *below < 1 || *below > 200, "-failover from 1 to 20 rounds, -below from 1 to 200"),
			time.Duration(*failover)*time.Minute,
			func(ctx context.Context) error {
				return runFailover(ctx, runParams{origin: *origin}, *below, *failover)
			})
		return
	case *chain > 0:
		runMode("chain", usage(*chain > 8 || *perDepth < 1 || *perDepth > 200, "-chain from 1 to 8, -per-depth from 1 to 200"),
			*duration+*warmup+3*time.Minute, func(ctx context.Context) error {
				return runChain(ctx, runParams{duration: *duration, warmup: *warmup, origin: *origin, httpPort: *httpPort, udpPort: *udpPort}, *chain, *perDepth)
			})
		return
	}
	fmt.Println("viewers  delivery  loss     p50_ms  p99_ms  srv_cpu_mcores  mcores/viewer  srv_rss_MB  MB/viewer  drops")
	for _, n := range counts {
		ctx, cancel := context.WithTimeout(context.Background(), *duration+*warmup+3*time.Minute)
		r, err := run(ctx, runParams{viewers: n, duration: *duration, warmup: *warmup, origin: *origin, httpPort: *httpPort, udpPort: *udpPort, extra: strings.Fields(*extra),
			light: *light, pin: *pin})
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadtest: N=%d: %v\n", n, err)
			os.Exit(1)
		}
		fmt.Printf("%7d  %7.3f%%  %6.3f%%  %6.2f  %6.2f  %14.0f  %13.2f  %10.1f  %9.3f  %d\n",
			n, r.delivery*100, r.loss*100, r.p50.Seconds()*1000, r.p99.Seconds()*1000,
			r.cpuMilli, r.cpuMilli/float64(n), r.rssMB, r.rssPerViewerMB, r.drops)
		if *light {
			fmt.Printf("  light viewers: sampled %d packets (1 in %d) for pion to decrypt: %d decrypted\n", r.sampled, sampleEvery, r.good)
		}
	}
}

// usageErr is err's text, "" for nil.
func usageErr(err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}

// usage is msg when bad, else "".
func usage(bad bool, msg string) string {
	if bad {
		return msg
	}
	return ""
}

// runMode runs one of the modes other than the viewer sweep within
// timeout: a usage problem exits 2, the mode's own failure exits 1.
func runMode(name, usageErr string, timeout time.Duration, f func(context.Context) error) {
	if usageErr != "" {
		fmt.Fprintln(os.Stderr, "loadtest: "+usageErr)
		os.Exit(2)
	}
	// An interrupt ends the run the way its timeout does, so what it set
	// up (node processes, -veth's namespace) is taken down.
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(sig, timeout)
	err := f(ctx)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadtest: %s: %v\n", name, err)
		os.Exit(1)
	}
}
