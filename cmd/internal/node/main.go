package node

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/relaymesh/relaymesh/topology/control"
)

// Main is the whole life of a node binary: config → New → Run → Drain →
// Close. The first SIGINT/SIGTERM drains (up to -drain-timeout); a second
// one exits at once. It returns the process exit code.
func Main(name string, role Role, args []string, stdout, stderr io.Writer) int {
	cfg, err := Load(name, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	if cfg.CheckConfig {
		fmt.Fprintf(stdout, "%s: configuration is valid\n", name)
		return 0
	}
	log := cfg.Logger(stderr)
	n, err := New(cfg, role, log)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	forced := make(chan struct{})
	go func() {
		<-sigs
		log.Info("signal received: draining; send another to exit now")
		stop()
		<-sigs
		close(forced)
	}()
	printWelcome(stdout, n, role)
	if err := n.Run(ctx); err != nil {
		log.Error("serve failed", "err", err)
		n.Close()
		return 1
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	go func() {
		select {
		case <-forced:
			cancel()
		case <-drainCtx.Done():
		}
	}()
	n.Drain(drainCtx)
	cancel()
	select {
	case <-forced:
		log.Warn("second signal: exiting without closing sessions")
		return 1
	default:
	}
	n.Close()
	log.Info("stopped")
	return 0
}

// printWelcome tells a newcomer where to publish and where to watch.
func printWelcome(w io.Writer, n *Node, role Role) {
	host := hostFor(n.HTTPAddr().String())
	fmt.Fprintf(w, "relaymesh %s %q is up\n", role, n.cfg.NodeID)
	fmt.Fprintf(w, "  web page:    http://%s/  (publish your camera, watch, stream list)\n", host)
	if role == RoleOrigin {
		fmt.Fprintf(w, "  publish:     WHIP  http://%s/whip/{stream}   (OBS: Settings > Stream > WHIP)\n", host)
		if n.rtmp != nil {
			fmt.Fprintf(w, "               RTMP  rtmp://%s/live   (OBS: Custom server, stream key {stream})\n", hostFor(n.rtmp.Addr().String()))
		}
		if n.rtsp != nil {
			fmt.Fprintf(w, "               RTSP  rtsp://%s/{stream}   (ffmpeg -f rtsp; readers play the same URL)\n", hostFor(n.rtsp.Addr().String()))
		}
	}
	fmt.Fprintf(w, "  watch:       WHEP  http://%s/whep/{stream}\n", host)
	fmt.Fprintf(w, "  media:       UDP %d (all WebRTC traffic)\n", n.UDPPort())
	fmt.Fprintf(w, "  access:      %s\n", n.cfg.Auth.describe(n.auth))
	if n.adminLn != nil {
		admin := hostFor(n.adminLn.Addr().String())
		fmt.Fprintf(w, "  api/metrics: http://%s/api/streams  http://%s/metrics (admin address)\n", host, admin)
	} else {
		fmt.Fprintf(w, "  api/metrics: http://%s/api/streams  http://%s/metrics\n", host, host)
	}
	if n.rec != nil {
		fmt.Fprintf(w, "  recordings:  http://%s/vod/  (into %s)\n", host, n.cfg.RecordDir)
	}
	switch u := n.NATSURL(); {
	case n.cfg.NATS != "":
		fmt.Fprintf(w, "  nats:        %s (external)\n", control.Redact(n.cfg.NATS))
	case u != "" && n.cfg.NATSCluster != "":
		fmt.Fprintf(w, "  nats:        %s (embedded, exposed to other nodes, clustered with %s)\n", u, n.cfg.NATSRoutes)
	case u != "":
		fmt.Fprintf(w, "  nats:        %s (embedded, exposed to other nodes)\n", u)
	default:
		fmt.Fprintf(w, "  nats:        embedded, in-process (expose it to other nodes with -nats-listen)\n")
	}
}

func hostFor(addr string) string {
	if len(addr) > 0 && addr[0] == ':' {
		return "localhost" + addr
	}
	if h := addr; len(h) > 8 && h[:8] == "0.0.0.0:" {
		return "localhost:" + h[8:]
	}
	if len(addr) > 5 && addr[:5] == "[::]:" {
		return "localhost:" + addr[5:]
	}
	return addr
}
