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
	"github.com/relaymesh/relaymesh/fanout/whep"
	"github.com/relaymesh/relaymesh/ingest"
	"github.com/relaymesh/relaymesh/ingest/rtmp"
	"github.com/relaymesh/relaymesh/ingest/rtsp"
	"github.com/relaymesh/relaymesh/ingest/transcode"
	"github.com/relaymesh/relaymesh/ingest/upstream"
	"github.com/relaymesh/relaymesh/ingest/whip"
	"github.com/relaymesh/relaymesh/internal/auth"
	"github.com/relaymesh/relaymesh/internal/clientaddr"
	"github.com/relaymesh/relaymesh/internal/netlimit"
	"github.com/relaymesh/relaymesh/internal/rtc"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
	"github.com/relaymesh/relaymesh/recorder"
	"github.com/relaymesh/relaymesh/topology"
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
	gate    *ingest.Gate // origin: every publisher passes it
	whip    *whip.Source
	rtsp    *rtsp.Server // origin with -rtsp
	rtmp    *rtmp.Server // origin with -rtmp
	whep    *whep.Server
	relay   *upstream.Relay    // relay only
	kids    *upstream.Children // the relays this node feeds
	rec     *recorder.Recorder // nil without -record-dir
	whipEP  *webrtchttp.Endpoint
	whepEP  *webrtchttp.Endpoint
	metrics *prometheus.Registry
	auth    *auth.Authorizer
	slots   *slots
	links   *upstream.LinkKeys // nil in an open cluster

	httpLn   net.Listener
	httpSrv  *http.Server
	adminLn  net.Listener // with -admin-http
	adminSrv *http.Server

	draining atomic.Bool
	placed   placements // recent WHEP redirects, by target
	proxies  clientaddr.Proxies
	zones    *topology.ZoneMap // viewers' zones by address, nil without -zone-map
	ready    atomic.Bool
	recReady atomic.Bool   // n.rec is set: registry changes reach it
	closing  chan struct{} // closed by Close: background loops end
	wg       sync.WaitGroup
	closed   sync.Once
}

// New opens the node's sockets and control plane; nothing is served until
// Run. A node that cannot start closes what it opened and says which flag
// to change.
func New(cfg *Config, role Role, log *slog.Logger) (*Node, error) {
	if role == RoleRelay && cfg.NATS == "" && cfg.Upstream == "" {
		return nil, errors.New("a relay needs -nats (the cluster's control plane, for example an origin started with -nats-listen) or a static -upstream")
	}
	n := &Node{cfg: cfg, role: role, log: log, start: time.Now(), closing: make(chan struct{})}
	if err := n.open(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// open builds the node: the hub, the media engine, the planes, then each
// door. Close undoes whatever part of it was done.
func (n *Node) open() (err error) {
	cfg, log := n.cfg, n.log
	if n.auth, err = auth.New(cfg.Auth.params()); err != nil {
		return err
	}
	gossipKeys, _ := cfg.Auth.gossipKeys() // checked by Validate
	n.links = upstream.NewLinkKeys(gossipKeys)
	n.slots = newSlots(cfg.MaxSessions, cfg.SessionRate, 2*int(cfg.SessionRate+0.5), cfg.HalfOpen)
	n.reg = fanout.NewRegistry(fanout.RegistryParams{Linger: cfg.ReconnectGrace, KeyframeInterval: cfg.KeyframeInterval,
		OnStreamEnd: n.release, OnChange: n.registryChanged})
	if n.engine, err = rtc.New(rtc.Params{UDPAddr: cfg.WebRTCUDP, TCPAddr: cfg.WebRTCTCP, PublicIPs: n.publicIPs(), GSO: cfg.GSO, Logger: log}); err != nil {
		return listenError(err, "-webrtc-udp or -webrtc-tcp", cfg.WebRTCUDP)
	}
	if n.plane, err = control.Open(control.Params{URL: cfg.NATS, Listen: cfg.NATSListen, Name: cfg.NodeID, Token: cfg.Auth.NATSToken,
		Creds: cfg.Auth.NATSCreds, TLSCA: cfg.Auth.NATSTLSCA, TLSCert: cfg.Auth.NATSTLSCert, TLSKey: cfg.Auth.NATSTLSKey,
		Cluster: cfg.NATSCluster, Routes: cfg.RouteList(), Log: log}); err != nil {
		return listenError(err, "-nats-listen", cfg.NATSListen)
	}
	if n.httpLn, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return listenError(fmt.Errorf("listen http %s: %w", cfg.HTTP, err), "-http", cfg.HTTP)
	}
	// Idle HTTP connections (headers never finished, keep-alives held) take
	// at most half the descriptors, so a flood of them cannot take the node
	// to its limit; past it they are closed at once. RTMP and RTSP are
	// capped at -max-sessions each.
	n.httpLn = &netlimit.CapListener{Listener: n.httpLn, Max: netlimit.DescriptorShare(0.5, 1024)}
	if err = n.openDirectory(); err != nil {
		return err
	}
	if err = n.joinCluster(gossipKeys); err != nil {
		return listenError(err, "-gossip", cfg.Gossip)
	}
	var checkChild func(ctx context.Context, stream, child string) error
	var ensure func(ctx context.Context, stream string) error
	if n.role == RoleRelay {
		if err = n.openRelay(); err != nil {
			return err
		}
		checkChild, ensure = n.relay.CheckChild, n.relay.Ensure
	}
	n.kids = upstream.NewChildren(cfg.MaxChildren, n.cluster, checkChild)
	n.whep = whep.New(whep.Params{Registry: n.reg, Engine: n.engine, ConnectTimeout: cfg.ConnectTimeout, Admit: n.kids.Admit, Ensure: ensure,
		Link: func(r *http.Request) bool { return r.Header.Get(upstream.NodeHeader) != "" }})
	// PATCH and DELETE reach a session's node over the control plane from
	// any node, so a load balancer needs no sticky sessions.
	remote := &control.Sessions{Conn: n.plane.Conn}
	n.whepEP = &webrtchttp.Endpoint{Prefix: "/whep/", Admit: n.admitViewer, Place: n.placeViewer, SessionBase: n.sessionBase, Create: n.limit(n.whep.Create), MapError: httpError,
		Log: log, ICEServers: cfg.ICEServerList(), Ready: n.accepting, Remote: remote}
	if n.role == RoleOrigin {
		if err = n.openIngest(remote); err != nil {
			return err
		}
	}
	if cfg.RecordDir != "" {
		maxBytes, _ := cfg.RecordMaxBytes() // checked by Validate
		n.rec, err = recorder.New(recorder.Params{Dir: cfg.RecordDir, Registry: n.reg, All: cfg.RecordAll, Segment: cfg.RecordSegment,
			MaxAge: cfg.RecordMaxAge, MaxBytes: maxBytes, MaxDuration: cfg.RecordMaxLength, Log: log.With("part", "recorder")})
		if err != nil {
			return err
		}
		n.recReady.Store(true)
	}
	n.metrics = newMetrics(n)
	n.proxies, _ = clientaddr.ParseProxies(cfg.TrustedProxies) // checked by Validate
	if cfg.ZoneMap != "" {
		if n.zones, err = topology.LoadZoneMap(cfg.ZoneMap); err != nil {
			return err
		}
	}
	// Slow clients cannot hold the server: headers within 10 s and 64 KiB,
	// a whole request (bodies are at most 64 KiB) within 30 s, idle
	// keep-alive connections closed after 2 minutes. No write timeout:
	// a recording downloads as long as it takes.
	public, admin := n.handlers()
	public = n.proxies.Wrap(public)
	n.httpSrv = &http.Server{Handler: public, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	if admin != nil {
		if n.adminLn, err = net.Listen("tcp", cfg.AdminHTTP); err != nil {
			return listenError(fmt.Errorf("listen admin http %s: %w", cfg.AdminHTTP, err), "-admin-http", cfg.AdminHTTP)
		}
		n.adminSrv = &http.Server{Handler: n.proxies.Wrap(admin), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	}
	// Background loops start last: they read what open has just built.
	n.wg.Add(1)
	go n.reportLoad()
	if cfg.NATSCluster != "" {
		n.wg.Add(1)
		go n.watchRoutes()
	}
	if n.gate != nil && n.dir != nil {
		n.wg.Add(1)
		go n.watchBackups()
	}
	n.ready.Store(true)
	return nil
}

// openRelay starts the relay's supervisor: streams pulled on demand from
// parents in their trees (or from a static -upstream).
func (n *Node) openRelay() error {
	p, err := upstream.New(upstream.Params{Registry: n.reg, Engine: n.engine, Log: n.log, NodeID: n.cfg.NodeID,
		Links: n.links, Token: n.cfg.Auth.ReadToken})
	if err != nil {
		return err
	}
	var static func(string) string
	if n.cfg.Upstream != "" {
		static = n.cfg.UpstreamURL
	}
	n.relay = upstream.NewRelay(upstream.RelayParams{Registry: n.reg, Puller: p, Directory: n.dir, Members: n.cluster,
		NodeID: n.cfg.NodeID, Zone: n.cfg.Zone, MaxChildren: n.cfg.MaxChildren, Idle: n.cfg.IdleTimeout, RebalanceAfter: n.cfg.RebalanceAfter,
		Pinned: n.cfg.PinList(), StaticURL: static, MembersOnly: n.links != nil, Log: n.log})
	return nil
}

// openIngest opens an origin's doors for publishers, all behind one gate.
func (n *Node) openIngest(remote webrtchttp.Remote) (err error) {
	cfg, log := n.cfg, n.log
	n.gate = ingest.NewGate(ingest.GateParams{Registry: n.reg, Authorize: n.publishAccess, Claim: n.claim, Handover: n.handover, Publishers: n.publishers})
	if n.whip, err = whip.New(whip.Params{Gate: n.gate, Engine: n.engine, Log: log, ConnectTimeout: cfg.ConnectTimeout}); err != nil {
		return err
	}
	n.whipEP = &webrtchttp.Endpoint{Prefix: "/whip/", Admit: n.whip.Admit, Create: n.limit(n.whip.Create), MapError: httpError,
		Log: log, ICEServers: cfg.ICEServerList(), Ready: n.accepting, Remote: remote}
	if cfg.RTMP != "" {
		if n.rtmp, err = rtmp.New(rtmp.Params{Gate: n.gate, Reserve: n.slots.reserve, MaxConns: cfg.MaxSessions, Addr: cfg.RTMP, AudioBitrate: cfg.OpusBitrate, Log: log.With("via", "rtmp")}); err != nil {
			return listenError(err, "-rtmp", cfg.RTMP)
		}
		if !transcode.Available() {
			log.Warn("this binary was built without AAC transcoding: RTMP and RTSP publishers' AAC audio will be dropped (make build with libavcodec-dev and libopus-dev installed)")
		}
	}
	if cfg.RTSP != "" {
		if n.rtsp, err = rtsp.New(rtsp.Params{Registry: n.reg, Gate: n.gate, ReadAccess: n.readAccess, Reserve: n.slots.reserve, MaxConns: cfg.MaxSessions, Addr: cfg.RTSP, UDPRTP: cfg.RTSPUDP,
			OpusBitrate: cfg.OpusBitrate, Log: log.With("via", "rtsp")}); err != nil {
			return listenError(err, "-rtsp or -rtsp-udp", cfg.RTSP)
		}
	}
	return nil
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

// limit reserves a session slot (-max-sessions, -session-rate) before
// create does any work, and gives it back when the session ends. Until the
// session connects it also counts against its client's -half-open share; a
// member relay's signed link does not (a relay re-parenting all its streams
// at once is no flood).
func (n *Node) limit(create webrtchttp.CreateFunc) webrtchttp.CreateFunc {
	return func(ctx context.Context, r *http.Request, stream, offer string, parsed *sdp.SessionDescription) (string, *webrtchttp.Peer, error) {
		settled := func() {}
		if n.links == nil || n.links.Verify(r, stream, time.Now(), n.isMember) != nil {
			var err error
			if settled, err = n.slots.connecting(r.RemoteAddr); err != nil {
				return "", nil, err
			}
		}
		release, err := n.slots.reserve(r.RemoteAddr)
		if err != nil {
			settled()
			return "", nil, err
		}
		answer, peer, err := create(ctx, r, stream, offer, parsed)
		if err != nil {
			release()
			settled()
			return "", nil, err
		}
		peer.OnConnected(settled)
		peer.OnClose(settled)
		peer.OnClose(release)
		return answer, peer, nil
	}
}

func (n *Node) accepting() bool { return !n.draining.Load() }

// isMember reports whether gossip lists node id.
func (n *Node) isMember(id string) bool {
	for _, m := range n.cluster.Members() {
		if m.ID == id {
			return true
		}
	}
	return false
}

// Sessions counts the sessions holding a slot: WHIP, WHEP, RTMP and RTSP
// publishers.
func (n *Node) Sessions() int { return n.slots.inUse() }

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
	errc := make(chan error, 2)
	go func() { errc <- n.httpSrv.Serve(n.httpLn) }()
	if n.adminSrv != nil {
		go func() { errc <- n.adminSrv.Serve(n.adminLn) }()
	}
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
	if n.adminSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = n.adminSrv.Shutdown(ctx)
		cancel()
	} else if n.adminLn != nil {
		_ = n.adminLn.Close()
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
		n.relay.Close()
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
		n.whep.Close()
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
	if n.auth != nil {
		n.auth.Close()
	}
}
