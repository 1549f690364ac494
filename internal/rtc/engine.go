// Package rtc builds the pion WebRTC APIs a node uses: one UDP port for all
// ICE/DTLS/SRTP traffic (ICE UDP mux), optional ICE-TCP, advertised public
// addresses, and the codec and interceptor sets of each kind of leg.
package rtc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/gso"
)

// Params configures an Engine.
type Params struct {
	UDPAddr   string   // the one UDP port, e.g. ":8189"
	TCPAddr   string   // ICE-TCP passive candidates; empty disables
	PublicIPs []string // advertised as host candidates (NAT 1:1)
	// GSO batches each viewer's writes into bursts sent with UDP
	// segmentation offload (PeerBatch); off, or on a kernel without it,
	// every packet is its own send.
	GSO    bool
	Logger *slog.Logger
}

// Engine owns the node's media sockets and hands out WebRTC APIs that share
// them. Lifecycle: New → APIs in use → Close (after every PeerConnection).
type Engine struct {
	udpMux  ice.UDPMux
	tcpMux  ice.TCPMux
	udpConn net.PacketConn // set when bound to one address
	batcher *gso.Batcher   // nil: no batching
	// Viewer sessions whose Egress took over at DTLS connection, and
	// those left to pion then.
	egressOwn, egressPion atomic.Int64
	tcpLn                 net.Listener
	udpPort               int
	networks              []webrtc.NetworkType
	public                []string
	log                   *slog.Logger
}

// New opens the media sockets.
func New(p Params) (*Engine, error) {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	e := &Engine{log: p.Logger, public: p.PublicIPs}
	if len(e.public) > 0 {
		var s webrtc.SettingEngine
		if err := s.SetICEAddressRewriteRules(e.publicRule()); err != nil {
			return nil, fmt.Errorf("-public-ip %v: %w", e.public, err)
		}
	}
	host, portStr, err := net.SplitHostPort(p.UDPAddr)
	if err != nil {
		return nil, fmt.Errorf("webrtc udp address %q: %w", p.UDPAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("webrtc udp port %q: %w", portStr, err)
	}
	e.networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if p.GSO {
		if err := gsoSupported(); err != nil {
			e.log.Warn("UDP GSO is not available; every media packet is its own send", "err", err)
		} else {
			e.batcher = gso.NewBatcher(true, func(err error) {
				e.log.Warn("a media socket turned GSO off after a failed send; its bursts go out with sendmmsg", "err", err)
			})
		}
	}
	ip := net.ParseIP(host)
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		if port == 0 {
			return nil, errors.New("webrtc udp port 0 needs a specific address (e.g. 127.0.0.1:0)")
		}
		// An unspecified address means every interface: one socket per
		// local address, all on the same port, so candidates are exact.
		opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithLoopback(), ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4)}
		if e.batcher != nil {
			n, err := stdnet.NewNet()
			if err != nil {
				return nil, fmt.Errorf("webrtc udp %s: %w", p.UDPAddr, err)
			}
			opts = append(opts, ice.UDPMuxFromPortWithNet(batchingNet{n, e.batcher}))
		}
		mux, err := ice.NewMultiUDPMuxFromPort(port, opts...)
		if err != nil {
			return nil, fmt.Errorf("listen webrtc udp %s: %w", p.UDPAddr, err)
		}
		e.udpMux, e.udpPort = mux, port
	} else {
		udp, err := net.ListenPacket("udp4", p.UDPAddr)
		if err != nil {
			return nil, fmt.Errorf("listen webrtc udp %s: %w", p.UDPAddr, err)
		}
		conn := udp
		if e.batcher != nil {
			conn = e.batcher.Wrap(udp.(*net.UDPConn))
		}
		e.udpConn = conn
		e.udpPort = conn.LocalAddr().(*net.UDPAddr).Port
		e.udpMux = webrtc.NewICEUDPMux(pionLogger(p.Logger), conn)
	}
	if p.TCPAddr != "" {
		ln, err := net.Listen("tcp4", p.TCPAddr)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("listen webrtc tcp %s: %w", p.TCPAddr, err)
		}
		e.tcpLn = ln
		e.tcpMux = webrtc.NewICETCPMux(pionLogger(p.Logger), ln, 32)
		e.networks = append(e.networks, webrtc.NetworkTypeTCP4)
	}
	return e, nil
}

// gsoSupported probes the kernel with a throwaway IPv4 socket: the media
// sockets are IPv4 ones.
func gsoSupported() error {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer c.Close()
	if !gso.Supported(c) {
		return errors.New("the kernel refuses UDP_SEGMENT (Linux 4.18 and later have it)")
	}
	return nil
}

// batchingNet is the network an unspecified address's UDP mux listens
// on: its sockets are the Batcher's.
type batchingNet struct {
	transport.Net
	b *gso.Batcher
}

func (n batchingNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return n.b.Wrap(c), nil
}

// Batching reports whether viewers' writes are batched into GSO bursts.
func (e *Engine) Batching() bool { return e.batcher != nil }

// BatchStats counts the bursts sent and the datagrams they carried (zero
// without batching).
func (e *Engine) BatchStats() (bursts, datagrams int64) {
	if e.batcher == nil {
		return 0, 0
	}
	return e.batcher.Bursts.Load(), e.batcher.Datagrams.Load()
}

// EgressStats counts the viewer sessions whose RTP the node sent itself
// (Egress) and those it left to pion, as DTLS connected.
func (e *Engine) EgressStats() (own, pion int64) { return e.egressOwn.Load(), e.egressPion.Load() }

// UDPPort is the port the media socket is bound to.
func (e *Engine) UDPPort() int { return e.udpPort }

// TCPAddr is the ICE-TCP listener's address, or nil.
func (e *Engine) TCPAddr() net.Addr {
	if e.tcpLn == nil {
		return nil
	}
	return e.tcpLn.Addr()
}

// Timeouts are the ICE liveness settings of one kind of leg.
type Timeouts struct {
	Disconnected, Failed, Keepalive time.Duration
}

// settings returns a SettingEngine wired to the shared sockets.
// publicRule advertises -public-ip in place of the interfaces' addresses
// on host candidates.
func (e *Engine) publicRule() webrtc.ICEAddressRewriteRule {
	return webrtc.ICEAddressRewriteRule{External: e.public, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace}
}

func (e *Engine) settings(t Timeouts) webrtc.SettingEngine {
	var s webrtc.SettingEngine
	s.SetICEUDPMux(e.udpMux)
	if e.tcpMux != nil {
		s.SetICETCPMux(e.tcpMux)
	}
	s.SetNetworkTypes(e.networks)
	s.SetIncludeLoopbackCandidate(true)
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if len(e.public) > 0 {
		// Host candidates carry the public addresses instead of the
		// interfaces' (1:1 NAT, a Kubernetes node's address). New checked
		// the rule already.
		_ = s.SetICEAddressRewriteRules(e.publicRule())
	}
	s.SetICETimeouts(t.Disconnected, t.Failed, t.Keepalive)
	s.SetLite(false)
	s.LoggerFactory = loggerFactory{e.log}
	return s
}

// ownSocketSettings is settings for a leg that opens its own ephemeral
// UDP socket (LinkAPI), on the address the shared socket is bound to when
// it is bound to one. No -public-ip: that names where the shared port is
// reachable, not an ephemeral one.
func (e *Engine) ownSocketSettings(t Timeouts) webrtc.SettingEngine {
	var s webrtc.SettingEngine
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIncludeLoopbackCandidate(true)
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if e.udpConn != nil {
		if bound := e.udpConn.LocalAddr().(*net.UDPAddr).IP; !bound.IsUnspecified() {
			s.SetIPFilter(func(ip net.IP) bool { return ip.Equal(bound) })
		}
	}
	s.SetICETimeouts(t.Disconnected, t.Failed, t.Keepalive)
	s.SetLite(false)
	s.LoggerFactory = loggerFactory{e.log}
	return s
}

// Close releases the sockets.
func (e *Engine) Close() {
	if e.udpMux != nil {
		_ = e.udpMux.Close()
	}
	if e.udpConn != nil {
		_ = e.udpConn.Close()
	}
	if e.tcpMux != nil {
		_ = e.tcpMux.Close()
	}
	if e.tcpLn != nil {
		_ = e.tcpLn.Close()
	}
}

// pionLogger routes pion's logs into slog at debug level, except errors.
func pionLogger(l *slog.Logger) logging.LeveledLogger {
	return loggerFactory{l}.NewLogger("ice")
}
