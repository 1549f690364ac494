// Package node assembles a relaymesh node (its listeners, sources and
// subscribers) from a Config. The mains under cmd/ are thin wrappers.
package node

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/clientaddr"
	"github.com/relaymesh/relaymesh/internal/config"
	"github.com/relaymesh/relaymesh/topology"
)

// Config is every setting of a node. Each field is a flag (see Flags), so it
// can also come from RELAYMESH_<NAME> or the -config YAML file.
type Config struct {
	ConfigFile       string
	HTTP             string
	AdminHTTP        string
	WebRTCUDP        string
	WebRTCTCP        string
	GSO              bool
	PublicIP         string
	STUN             string
	NodeID           string
	Zone             string
	Gossip           string
	Join             string
	NATS             string
	NATSListen       string
	NATSCluster      string
	NATSRoutes       string
	Auth             AuthConfig
	ICEServers       string
	KeyframeInterval time.Duration
	ReconnectGrace   time.Duration
	ConnectTimeout   time.Duration
	DrainTimeout     time.Duration
	IdleTimeout      time.Duration
	Upstream         string
	RTSP             string
	RTSPUDP          string
	RTMP             string
	OpusBitrate      int
	MaxChildren      int
	RebalanceAfter   time.Duration
	Pin              string
	MaxSessions      int
	MaxViewers       int
	WHEPRedirect     bool
	PublicURL        string
	ZoneMap          string
	TrustedProxies   string
	SessionRate      float64
	HalfOpen         int
	RecordDir        string
	RecordAll        bool
	RecordSegment    time.Duration
	RecordMaxAge     time.Duration
	RecordMaxLength  time.Duration
	RecordMaxSize    string
	LogFormat        string
	LogLevel         string
	CheckConfig      bool
	Pprof            bool
}

// Flags registers the node's flags on fs with their defaults.
func (c *Config) Flags(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	fs.StringVar(&c.ConfigFile, "config", "", "YAML `file` with settings by flag name (flags > env > file > defaults)")
	fs.StringVar(&c.HTTP, "http", ":8080", "HTTP `address` for WHIP, WHEP, API, metrics and the web UI")
	fs.StringVar(&c.AdminHTTP, "admin-http", "", "serve admin actions, /metrics and pprof on this `address` only (a port a NetworkPolicy can keep inside the cluster); empty: on -http")
	fs.StringVar(&c.WebRTCUDP, "webrtc-udp", ":8189", "the one UDP `address` carrying all ICE/DTLS/SRTP traffic")
	fs.StringVar(&c.WebRTCTCP, "webrtc-tcp", "", "TCP `address` for ICE-TCP passive candidates (off when empty)")
	fs.BoolVar(&c.GSO, "gso", true, "batch each viewer's burst of packets into one UDP GSO send where the kernel supports it (Linux 4.18+); false forces one send per packet")
	fs.StringVar(&c.PublicIP, "public-ip", "", "comma-separated `IPs` to advertise as host candidates (NAT 1:1, Kubernetes node IP)")
	fs.StringVar(&c.STUN, "stun", "", "comma-separated STUN `servers` (host:port) asked at start for this node's public address, advertised like -public-ip (behind 1:1 NAT); -public-ip wins")
	fs.StringVar(&c.NodeID, "node-id", host, "unique node `name` in the cluster")
	fs.StringVar(&c.Zone, "zone", "default", "placement `zone`: children prefer parents in their own zone")
	fs.StringVar(&c.Gossip, "gossip", ":7946", "memberlist (gossip) `address`")
	fs.StringVar(&c.Join, "join", "", "memberlist seeds, comma-separated `host:port` (a DNS name stands for all its addresses)")
	fs.StringVar(&c.NATS, "nats", "", "external NATS `URL`; when empty an embedded NATS server starts")
	fs.StringVar(&c.NATSListen, "nats-listen", "", "expose the embedded NATS server on this `address` (off when empty)")
	fs.StringVar(&c.NATSCluster, "nats-cluster", "", "origin: the embedded NATS server joins the other origins' in one NATS cluster, taking routes on this `address` (the others find it through gossip), so losing an origin loses no control plane")
	fs.StringVar(&c.NATSRoutes, "nats-routes", "", "with -nats-cluster: comma-separated `host:port` of other origins' -nats-cluster addresses, routed to from the start (gossip finds them too)")
	c.Auth.flags(fs)
	fs.StringVar(&c.ICEServers, "ice-servers", "", "comma-separated STUN/TURN `URLs` advertised to clients in Link headers")
	fs.DurationVar(&c.KeyframeInterval, "keyframe-interval", 500*time.Millisecond, "at most one keyframe request per `interval` goes to a publisher")
	fs.DurationVar(&c.ReconnectGrace, "reconnect-grace", 10*time.Second, "how long a stream waits for its publisher to come back; viewers stay connected meanwhile")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 15*time.Second, "a session whose ICE/DTLS has not completed by then is closed")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 15*time.Second, "on the first SIGTERM/SIGINT, how long to wait for sessions to end before closing them")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 30*time.Second, "relay: leave a stream's tree after it has had no subscribers this long")
	fs.StringVar(&c.Upstream, "upstream", "", "relay: pull every stream from this WHEP `URL` instead of its origin (any WHEP server; {stream} is replaced, else /whep/{stream} is appended)")
	fs.StringVar(&c.RTMP, "rtmp", ":1935", "origin: RTMP `address` taking publishers (rtmp://HOST:1935/live, stream key {stream}); empty disables")
	fs.IntVar(&c.OpusBitrate, "opus-bitrate", 128000, "bit/s of the Opus audio that AAC (RTMP, RTSP) is transcoded to, once per stream")
	fs.StringVar(&c.RTSP, "rtsp", ":8554", "origin: RTSP `address` taking publishers (ANNOUNCE/RECORD, rtsp://HOST:8554/{stream}); empty disables")
	fs.StringVar(&c.RTSPUDP, "rtsp-udp", ":8000", "origin: even UDP `address` for RTSP's UDP transport (RTCP on the next port); empty allows TCP only")
	fs.IntVar(&c.MaxChildren, "max-children", 8, "at most `N` child relays per stream on this node (the tree's fan-out); relays choose parents with the same N")
	fs.DurationVar(&c.RebalanceAfter, "rebalance-after", 5*time.Second, "relay: once the cluster's membership has been quiet this long, move (make-before-break) if that brings a stream's tree back within its depth bound; 0 turns it off")
	fs.StringVar(&c.Pin, "pin", "", "relay: comma-separated stream `names` to carry whether or not anyone watches (warm relays: viewers get the first frame at once)")
	fs.IntVar(&c.MaxViewers, "max-viewers", 0, "at most this many WHEP viewers here (child relays not counted); 0 for no limit. In a cluster, a viewer past it is redirected to a node with room")
	fs.BoolVar(&c.WHEPRedirect, "whep-redirect", true, "in a cluster, answer a WHEP POST with 307 to the node that serves the viewer best (a relay with room, that carries the stream); -max-viewers applies either way")
	fs.StringVar(&c.ZoneMap, "zone-map", "", "YAML `file` of viewer address prefixes by zone (eu: [10.1.0.0/16]): a redirected viewer goes to a node of its zone (-zone)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated `CIDRs` of proxies whose Forwarded/X-Forwarded-For names the client (for zones, per-client limits and the auth webhook)")
	fs.StringVar(&c.PublicURL, "public-url", "", "the base `URL` viewers reach this node at (https://relay-3.example.com), advertised for redirects; default http:// and the cluster address")
	fs.IntVar(&c.MaxSessions, "max-sessions", 2000, "at most this many sessions (WHIP, WHEP, RTMP and RTSP publishers), reserved before any work; more get 503")
	fs.IntVar(&c.HalfOpen, "half-open", 10, "at most this many WHIP and WHEP sessions from one client address still connecting (ICE and DTLS not done); more get 503")
	fs.Float64Var(&c.SessionRate, "session-rate", 20, "at most this many new sessions a `second` from one client address (bursts of twice that); more get 503")
	fs.StringVar(&c.RecordDir, "record-dir", "", "record streams into this `folder` (fragmented MP4 segments) and serve them at /vod/; off when empty")
	fs.BoolVar(&c.RecordAll, "record-all", true, "with -record-dir: record every stream this node carries; false: only those started with POST /api/record/{stream}")
	fs.DurationVar(&c.RecordSegment, "record-segment", 2*time.Second, "recording segment `length` (a keyframe is asked for, and the segment cut at it); a kill -9 loses about half a segment")
	fs.DurationVar(&c.RecordMaxLength, "record-max-duration", time.Hour, "a live recording longer than this rolls over into a new one at a keyframe (0: never)")
	fs.DurationVar(&c.RecordMaxAge, "record-max-age", 0, "delete finished recordings older than this (0: keep)")
	fs.StringVar(&c.RecordMaxSize, "record-max-size", "", "delete the oldest finished recordings while all of them take more than this `size` (e.g. 500M, 20G; empty: no bound); a live recording past half of it rolls over")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&c.CheckConfig, "check-config", false, "validate the configuration and exit (0 when valid)")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the HTTP address")
}

// Load parses args, the environment and the config file into c.
func Load(name string, args []string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.Flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nEvery flag can also be set as %sNAME (e.g. -webrtc-udp as %s)\nor as a key of the -config YAML file. Flags:\n\n",
			name, config.EnvPrefix, config.EnvName("webrtc-udp"))
		fs.PrintDefaults()
	}
	if err := config.Load(fs, args, os.LookupEnv); err != nil {
		return nil, err
	}
	return c, c.Validate()
}

// Validate checks the settings together; each error says what to change.
func (c *Config) Validate() error {
	var errs []error
	addr := func(flagName, v string, optional bool) {
		if v == "" && optional {
			return
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("-%s %q: want host:port or :port", flagName, v))
		}
	}
	addr("http", c.HTTP, false)
	addr("webrtc-udp", c.WebRTCUDP, false)
	addr("webrtc-tcp", c.WebRTCTCP, true)
	addr("admin-http", c.AdminHTTP, true)
	addr("nats-listen", c.NATSListen, true)
	addr("nats-cluster", c.NATSCluster, true)
	for _, r := range c.RouteList() {
		addr("nats-routes", r, false)
	}
	addr("rtsp", c.RTSP, true)
	addr("rtmp", c.RTMP, true)
	if c.OpusBitrate < 6000 || c.OpusBitrate > 510000 {
		errs = append(errs, fmt.Errorf("-opus-bitrate %d: Opus takes 6000 to 510000 bit/s", c.OpusBitrate))
	}
	addr("rtsp-udp", c.RTSPUDP, true)
	addr("gossip", c.Gossip, false)
	for _, j := range c.JoinList() {
		addr("join", j, false)
	}
	for _, ip := range c.PublicIPs() {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("-public-ip %q is not an IP address", ip))
		}
	}
	if c.NodeID == "" {
		errs = append(errs, errors.New("-node-id is empty"))
	}
	if c.NATS != "" && c.NATSListen != "" {
		errs = append(errs, errors.New("-nats-listen exposes the embedded server, which does not run when -nats is set"))
	}
	if c.NATS != "" && c.NATSCluster != "" {
		errs = append(errs, errors.New("-nats-cluster clusters the embedded server, which does not run when -nats is set"))
	}
	if c.NATSCluster == "" && c.NATSRoutes != "" {
		errs = append(errs, errors.New("-nats-routes lists routes for -nats-cluster, which is not set"))
	}
	for _, s := range splitList(c.STUN) {
		if _, _, err := net.SplitHostPort(strings.TrimPrefix(s, "stun:")); err != nil {
			errs = append(errs, fmt.Errorf("-stun %q: want host:port", s))
		}
	}
	for _, u := range c.ICEServerList() {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			errs = append(errs, fmt.Errorf("-ice-servers %q: want stun:, turn: or turns: URLs", u))
		}
	}
	if c.Upstream != "" {
		if u, err := url.Parse(c.Upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("-upstream %q: want an http:// or https:// URL", c.Upstream))
		}
	}
	if c.KeyframeInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("-keyframe-interval %s is below 10ms", c.KeyframeInterval))
	}
	if c.ReconnectGrace <= 0 || c.ConnectTimeout <= 0 || c.DrainTimeout < 0 || c.IdleTimeout <= 0 {
		errs = append(errs, errors.New("-reconnect-grace, -connect-timeout and -idle-timeout must be positive, -drain-timeout not negative"))
	}
	if c.RebalanceAfter < 0 {
		errs = append(errs, fmt.Errorf("-rebalance-after %s: want 0 (off) or more", c.RebalanceAfter))
	}
	if c.MaxChildren < 1 {
		errs = append(errs, fmt.Errorf("-max-children %d: want at least 1", c.MaxChildren))
	}
	for _, p := range c.PinList() {
		if err := fanout.CheckName(p); err != nil {
			errs = append(errs, fmt.Errorf("-pin: %w", err))
		}
	}
	if _, err := c.RecordMaxBytes(); err != nil {
		errs = append(errs, err)
	}
	if c.RecordMaxLength != 0 && c.RecordMaxLength < 10*c.RecordSegment {
		errs = append(errs, fmt.Errorf("-record-max-duration %s: want 0 (never) or at least ten segments (%s)", c.RecordMaxLength, 10*c.RecordSegment))
	}
	if c.RecordSegment < 500*time.Millisecond || c.RecordMaxAge < 0 {
		errs = append(errs, fmt.Errorf("-record-segment %s: want at least 500ms; -record-max-age not negative", c.RecordSegment))
	}
	if c.SessionRate <= 0 {
		errs = append(errs, fmt.Errorf("-session-rate %g: want more than 0", c.SessionRate))
	}
	if c.HalfOpen < 1 {
		errs = append(errs, fmt.Errorf("-half-open %d: want at least 1", c.HalfOpen))
	}
	if c.MaxViewers < 0 {
		errs = append(errs, fmt.Errorf("-max-viewers %d: want 0 (no limit) or more", c.MaxViewers))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("-public-url %q: want http(s)://host[:port], with no path", c.PublicURL))
		}
	}
	if _, err := clientaddr.ParseProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if c.ZoneMap != "" {
		if _, err := topology.LoadZoneMap(c.ZoneMap); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxSessions < 1 {
		errs = append(errs, fmt.Errorf("-max-sessions %d: want at least 1", c.MaxSessions))
	}
	if err := config.CheckLog(c.LogFormat, c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.Auth.validate()...)
	return errors.Join(errs...)
}

// PublicIPs splits -public-ip.
func (c *Config) PublicIPs() []string { return splitList(c.PublicIP) }

// RouteList is -nats-routes split.
func (c *Config) RouteList() []string { return splitList(c.NATSRoutes) }

// JoinList splits -join.
func (c *Config) JoinList() []string { return splitList(c.Join) }

// RecordMaxBytes parses -record-max-size (a number with an optional K, M,
// G or T suffix, powers of 1024); 0 means no bound.
func (c *Config) RecordMaxBytes() (int64, error) {
	s := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(c.RecordMaxSize)), "B")
	if c.RecordMaxSize == "" {
		return 0, nil
	}
	mult := int64(1)
	if s != "" {
		if i := strings.IndexByte("KMGT", s[len(s)-1]); i >= 0 {
			mult, s = 1<<(10*(i+1)), s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("-record-max-size %q: want a size like 500M or 20G", c.RecordMaxSize)
	}
	return n * mult, nil
}

// PinList splits -pin.
func (c *Config) PinList() []string { return splitList(c.Pin) }

// ICEServerList splits -ice-servers.
func (c *Config) ICEServerList() []string { return splitList(c.ICEServers) }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Logger builds the slog logger the config asks for.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	return config.Logger(w, c.LogFormat, c.LogLevel).With("node", c.NodeID)
}

// UpstreamURL is the static parent's WHEP URL for stream, or "".
func (c *Config) UpstreamURL(stream string) string {
	if c.Upstream == "" {
		return ""
	}
	if strings.Contains(c.Upstream, "{stream}") {
		return strings.ReplaceAll(c.Upstream, "{stream}", url.PathEscape(stream))
	}
	return strings.TrimRight(c.Upstream, "/") + "/whep/" + url.PathEscape(stream)
}
