package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/fanout/webrtcsub"
	"github.com/relaymesh/relaymesh/ingest/rtmp"
	"github.com/relaymesh/relaymesh/ingest/rtsp"
	"github.com/relaymesh/relaymesh/ingest/transcode"
	"github.com/relaymesh/relaymesh/ingest/whip"
	"github.com/relaymesh/relaymesh/internal/rtc"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
	"github.com/relaymesh/relaymesh/recorder"
	"github.com/relaymesh/relaymesh/topology/control"
	"github.com/relaymesh/relaymesh/topology/membership"
)

// Role is what a node does in the cluster.
type Role string

// The roles.
const (
	RoleOrigin Role = "origin"
	RoleRelay  Role = "relay"
)

// Node is one running relaymesh process. Lifecycle: New (opens every socket)
// → Run (serves until ctx ends) → Drain → Close.
type Node struct {
	cfg   *Config
	role  Role
	log   *slog.Logger
	start time.Time

	reg     *fanout.Registry
	engine  *rtc.Engine
	plane   *control.Plane
	dir     *control.Directory
	cluster *membership.Cluster
	whip    *whip.Source
	rtsp    *rtsp.Server // origin with -rtsp
	rtmp    *rtmp.Server // origin with -rtmp
	whep    *whep
	relay   *relay
	rec     *recorder.Recorder // nil without -record-dir
	kids    *children
	changes *changes // fired on every membership change
	whipEP  *webrtchttp.Endpoint
	whepEP  *webrtchttp.Endpoint
	metrics *prometheus.Registry

	httpLn  net.Listener
	httpSrv *http.Server

	draining atomic.Bool
	ready    atomic.Bool
	recReady atomic.Bool   // n.rec is set: registry changes reach it
	closing  chan struct{} // closed by Close: background loops end
	wg       sync.WaitGroup
	closed   sync.Once
}

// New opens the node's sockets and control plane; nothing is served until
// Run.
func New(cfg *Config, role Role, log *slog.Logger) (n *Node, err error) {
	if role == RoleRelay && cfg.NATS == "" && cfg.Upstream == "" {
		return nil, errors.New("a relay needs -nats (the cluster's control plane, for example an origin started with -nats-listen) or a static -upstream")
	}
	n = &Node{cfg: cfg, role: role, log: log, start: time.Now(), closing: make(chan struct{}),
		kids: newChildren(cfg.MaxChildren), changes: newChanges()}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	n.reg = fanout.NewRegistry(fanout.RegistryParams{Linger: cfg.ReconnectGrace, KeyframeInterval: cfg.KeyframeInterval,
		OnStreamEnd: n.release, OnChange: n.registryChanged})
	if n.engine, err = rtc.New(rtc.Params{UDPAddr: cfg.WebRTCUDP, TCPAddr: cfg.WebRTCTCP, PublicIPs: n.publicIPs(), Logger: log}); err != nil {
		return nil, err
	}
	if n.plane, err = control.Open(control.Params{URL: cfg.NATS, Listen: cfg.NATSListen, Name: cfg.NodeID}); err != nil {
		return nil, err
	}
	if n.httpLn, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTP, err)
	}
	if err = n.openDirectory(); err != nil {
		return nil, err
	}
	if err = n.joinCluster(); err != nil {
		return nil, err
	}
	if role == RoleRelay {
		if n.relay, err = newRelay(n, cfg.IdleTimeout); err != nil {
			return nil, err
		}
	}
	n.whep = &whep{reg: n.reg, engine: n.engine, reporter: webrtcsub.NewReporter(time.Second), connectTimeout: cfg.ConnectTimeout}
	n.whep.admit = n.admitChild
	if n.relay != nil {
		n.whep.ensure = n.relay.ensure
	}
	// PATCH and DELETE reach a session's node over the control plane from
	// any node, so a load balancer needs no sticky sessions.
	remote := &control.Sessions{Conn: n.plane.Conn}
	n.whepEP = &webrtchttp.Endpoint{Prefix: "/whep/", Create: n.limit(n.whep.create), Log: log, ICEServers: cfg.ICEServerList(), Ready: n.accepting, Remote: remote}
	if role == RoleOrigin {
		if n.whip, err = whip.New(whip.Params{Registry: n.reg, Engine: n.engine, Log: log, Token: cfg.PublishToken, ConnectTimeout: cfg.ConnectTimeout, Claim: n.claim}); err != nil {
			return nil, err
		}
		n.whipEP = &webrtchttp.Endpoint{Prefix: "/whip/", Create: n.limit(n.whip.Create), Log: log, ICEServers: cfg.ICEServerList(), Ready: n.accepting, Remote: remote}
		if cfg.RTMP != "" {
			if n.rtmp, err = rtmp.New(rtmp.Params{Registry: n.reg, Addr: cfg.RTMP, Token: cfg.PublishToken, Claim: n.claim,
				AudioBitrate: cfg.OpusBitrate, Log: log.With("via", "rtmp")}); err != nil {
				return nil, fmt.Errorf("rtmp on %s: %w", cfg.RTMP, err)
			}
			if !transcode.Available() {
				log.Warn("this binary was built without AAC transcoding: RTMP and RTSP publishers' AAC audio will be dropped (make build with libavcodec-dev and libopus-dev installed)")
			}
		}
		if cfg.RTSP != "" {
			if n.rtsp, err = rtsp.New(rtsp.Params{Registry: n.reg, Addr: cfg.RTSP, UDPRTP: cfg.RTSPUDP, Token: cfg.PublishToken,
				Claim: n.claim, OpusBitrate: cfg.OpusBitrate, Log: log.With("via", "rtsp")}); err != nil {
				return nil, err
			}
		}
	}
	if cfg.RecordDir != "" {
		maxBytes, _ := cfg.RecordMaxBytes() // checked by Validate
		n.rec, err = recorder.New(recorder.Params{Dir: cfg.RecordDir, Registry: n.reg, All: cfg.RecordAll, Segment: cfg.RecordSegment,
			MaxAge: cfg.RecordMaxAge, MaxBytes: maxBytes, Log: log.With("part", "recorder")})
		if err != nil {
			return nil, err
		}
		n.recReady.Store(true)
	}
	n.metrics = newMetrics(n)
	n.httpSrv = &http.Server{Handler: n.routes(), ReadHeaderTimeout: 10 * time.Second}
	// Background loops start last: they read what New has just built.
	n.wg.Add(1)
	go n.reportLoad()
	n.ready.Store(true)
	return n, nil
}

// publicIPs is -public-ip, or else the address -stun discovers; a STUN
// failure is logged and the node goes on with its interface addresses.
func (n *Node) publicIPs() []string {
	if ips := n.cfg.PublicIPs(); len(ips) > 0 || n.cfg.STUN == "" {
		return ips
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ip, err := rtc.DiscoverPublicIP(ctx, splitList(n.cfg.STUN))
	if err != nil {
		n.log.Warn("STUN: public address not found; advertising interface addresses", "err", err)
		return nil
	}
	n.log.Info("STUN: public address", "ip", ip)
	return []string{ip}
}

// registryChanged runs when a stream appears, changes or ends: a recorder
// starts recording new streams.
func (n *Node) registryChanged() {
	if n.recReady.Load() {
		n.rec.Changed()
	}
}

// limit refuses new sessions past -max-sessions with 503.
func (n *Node) limit(create webrtchttp.CreateFunc) webrtchttp.CreateFunc {
	return func(ctx context.Context, r *http.Request, stream, offer string, parsed *sdp.SessionDescription) (string, *webrtchttp.Peer, error) {
		if n.Sessions() >= n.cfg.MaxSessions {
			return "", nil, &webrtchttp.Error{Status: http.StatusServiceUnavailable, Message: fmt.Sprintf("this node is at capacity (%d sessions); try another node", n.cfg.MaxSessions), RetryAfter: 10 * time.Second}
		}
		return create(ctx, r, stream, offer, parsed)
	}
}

func (n *Node) accepting() bool { return !n.draining.Load() }

// Sessions counts WHIP and WHEP sessions.
func (n *Node) Sessions() int {
	s := n.whepEP.Sessions()
	if n.whipEP != nil {
		s += n.whipEP.Sessions()
	}
	return s
}

// HTTPAddr is the address the HTTP server listens on.
func (n *Node) HTTPAddr() net.Addr { return n.httpLn.Addr() }

// UDPPort is the media port.
func (n *Node) UDPPort() int { return n.engine.UDPPort() }

// NATSURL is where other nodes reach the embedded NATS server, or "".
func (n *Node) NATSURL() string { return n.plane.ClientURL() }

// Registry is the node's stream registry.
func (n *Node) Registry() *fanout.Registry { return n.reg }

// Run serves HTTP until ctx ends, then returns nil; any other end of the
// server is an error.
func (n *Node) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- n.httpSrv.Serve(n.httpLn) }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// Drain stops taking new sessions and reports not ready, then waits until
// every session has ended or ctx ends.
func (n *Node) Drain(ctx context.Context) {
	n.draining.Store(true)
	n.ready.Store(false)
	if n.cluster != nil {
		_ = n.cluster.Update(func(m *membership.Meta) { m.Draining = true })
	}
	n.log.Info("draining", "sessions", n.Sessions())
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for n.Sessions() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close ends every session and stream and releases every socket. It waits
// for every goroutine the node started.
func (n *Node) Close() {
	n.closed.Do(n.close)
}

func (n *Node) close() {
	n.draining.Store(true)
	n.ready.Store(false)
	close(n.closing)
	n.wg.Wait()
	if n.cluster != nil {
		_ = n.cluster.Leave(500 * time.Millisecond)
		_ = n.cluster.Shutdown()
	}
	if n.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = n.httpSrv.Shutdown(ctx)
		cancel()
	} else if n.httpLn != nil {
		_ = n.httpLn.Close()
	}
	if n.whipEP != nil {
		n.whipEP.CloseAll()
	}
	if n.rtsp != nil {
		n.rtsp.Close()
	}
	if n.rtmp != nil {
		n.rtmp.Close()
	}
	if n.whepEP != nil {
		n.whepEP.CloseAll()
	}
	if n.relay != nil {
		n.relay.close()
	}
	if n.rec != nil {
		n.rec.Close() // the last segments are written while the streams still exist
	}
	if n.reg != nil {
		n.reg.Close()
	}
	if n.whip != nil {
		n.whip.Close()
	}
	if n.whep != nil {
		n.whep.wg.Wait()
		n.whep.reporter.Close()
	}
	if n.dir != nil {
		n.dir.Close()
	}
	if n.plane != nil {
		n.plane.Close()
	}
	if n.engine != nil {
		n.engine.Close()
	}
}
