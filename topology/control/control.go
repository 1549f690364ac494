// Package control is the NATS adapter of the control plane: an embedded
// nats-server for the single-machine default, or a connection to an external
// cluster, behind the same *nats.Conn.
package control

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Params configures the control-plane connection.
type Params struct {
	URL    string // external NATS; empty starts an embedded server
	Listen string // embedded only: expose it on this address; empty keeps it in-process
	Name   string // client name (the node id)
	// Token is the credential: presented to an external server, and
	// required by the embedded one from every client.
	Token string
	// Creds is a NATS .creds file (user JWT and NKey seed) or an NKey
	// seed file, for an external server.
	Creds string
	// TLSCA verifies an external server's certificate; TLSCert and TLSKey
	// are the client's own, for servers that ask for one.
	TLSCA, TLSCert, TLSKey string
	// Cluster, embedded only, makes the server one of a NATS cluster of
	// the origins' embedded servers: its route listen address. Routes are
	// the cluster's servers (host:port of their Cluster addresses, this
	// one's included, as NATS's own cluster configuration lists them);
	// each server learns the others from any it reaches.
	Cluster string
	Routes  []string
	// Log receives a clustered embedded server's leader changes and
	// warnings, and a connection's losses and reconnections.
	Log *slog.Logger
}

// ClusterName names the NATS cluster the origins' embedded servers form.
const ClusterName = "relaymesh"

// ErrOpenListener: the embedded server would listen beyond this host with
// no credential.
var ErrOpenListener = errors.New("the embedded NATS server listens beyond loopback without a credential")

// clientOptions are the credentials and TLS of a connection to an
// external server.
func (p Params) clientOptions() ([]nats.Option, error) {
	var opts []nats.Option
	if p.Token != "" {
		opts = append(opts, nats.Token(p.Token))
	}
	if p.Creds != "" {
		b, err := os.ReadFile(p.Creds)
		if err != nil {
			return nil, fmt.Errorf("-nats-creds: %w", err)
		}
		if strings.HasPrefix(strings.TrimSpace(string(b)), "SU") { // a bare user NKey seed
			o, err := nats.NkeyOptionFromSeed(p.Creds)
			if err != nil {
				return nil, fmt.Errorf("-nats-creds: %w", err)
			}
			opts = append(opts, o)
		} else {
			opts = append(opts, nats.UserCredentials(p.Creds))
		}
	}
	if p.TLSCA != "" {
		opts = append(opts, nats.RootCAs(p.TLSCA))
	}
	if p.TLSCert != "" || p.TLSKey != "" {
		opts = append(opts, nats.ClientCert(p.TLSCert, p.TLSKey))
	}
	return opts, nil
}

// Redact is a NATS URL without its credentials, for banners and logs.
func Redact(u string) string {
	var out []string
	for _, one := range strings.Split(u, ",") {
		if at := strings.LastIndex(one, "@"); at >= 0 {
			if i := strings.Index(one, "://"); i >= 0 && i < at {
				one = one[:i+3] + "***@" + one[at+1:]
			} else {
				one = "***@" + one[at+1:]
			}
		}
		out = append(out, one)
	}
	return strings.Join(out, ",")
}

// Plane is a connected control plane. Lifecycle: Open → use Conn → Close.
type Plane struct {
	Conn    *nats.Conn
	server  *server.Server // nil when external
	opts    *server.Options
	token   string
	exposed bool // the embedded server listens for other nodes (-nats-listen)

	routeMu sync.Mutex
	routes  []string // the routes set last, sorted
}

// Open connects to the control plane, starting the embedded server first
// when no URL is given. The embedded server listens on no port unless
// Listen is set: nodes in this process reach it in-process.
func Open(p Params) (*Plane, error) {
	if p.URL != "" {
		creds, err := p.clientOptions()
		if err != nil {
			return nil, err
		}
		opts := append(creds, nats.Name(p.Name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
		nc, err := nats.Connect(p.URL, append(opts, connLog(p.Log)...)...)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS %s: %w", Redact(p.URL), err)
		}
		return &Plane{Conn: nc}, nil
	}
	opts := &server.Options{ServerName: p.Name, NoSigs: true, NoLog: true, DontListen: true}
	if p.Listen != "" {
		host, port, err := net.SplitHostPort(p.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", p.Listen, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats listen port %q: %w", port, err)
		}
		if host == "" {
			host = "0.0.0.0"
		}
		if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && p.Token == "" {
			return nil, fmt.Errorf("%w (-nats-listen %s): set -nats-token, which every node then presents, or listen on 127.0.0.1", ErrOpenListener, p.Listen)
		}
		if n == 0 {
			// Port 0 means "any free port" everywhere else in relaymesh;
			// nats-server reads it as its default 4222.
			n = server.RANDOM_PORT
		}
		opts.DontListen, opts.Host, opts.Port = false, host, n
	}
	exposed := !opts.DontListen
	if p.Cluster != "" {
		if err := p.clusterOptions(opts); err != nil {
			return nil, err
		}
		if opts.DontListen {
			// A clustered server with no client listener never becomes
			// ready, and shutting it down then hangs: a loopback listener
			// nobody is told of (not advertised to the other servers'
			// clients, who could not reach it).
			opts.DontListen, opts.Host, opts.Port = false, "127.0.0.1", server.RANDOM_PORT
			opts.Cluster.NoAdvertise = true
		}
	}
	if p.Token != "" {
		opts.Authorization = p.Token
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if p.Cluster != "" && p.Log != nil {
		opts.NoLog = false
		ns.SetLoggerV2(serverLog{p.Log.With("plane", "nats")}, false, false, false)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS did not become ready in 5 s")
	}
	nc, err := nats.Connect("", nats.Name(p.Name), nats.InProcessServer(ns), nats.Token(p.Token))
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	return &Plane{Conn: nc, server: ns, opts: opts, token: p.Token, exposed: exposed}, nil
}

// clusterOptions sets the embedded server's cluster: the origins' servers
// form one NATS cluster, so a node whose server dies reconnects to
// another, and the directory (what the nodes tell each other) loses
// nothing. With a token, routes present it too; without one they must
// stay on loopback.
func (p Params) clusterOptions(opts *server.Options) error {
	host, port, err := net.SplitHostPort(p.Cluster)
	if err != nil {
		return fmt.Errorf("-nats-cluster %q: %w", p.Cluster, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 {
		return fmt.Errorf("-nats-cluster %q: the port must be a number above 0 (the other origins list it)", p.Cluster)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && p.Token == "" {
		return fmt.Errorf("%w (-nats-cluster %s): set -nats-token, which the routes then present, or listen on 127.0.0.1", ErrOpenListener, p.Cluster)
	}
	opts.Cluster = server.ClusterOpts{Name: ClusterName, Host: host, Port: n}
	if p.Token != "" {
		opts.Cluster.Username, opts.Cluster.Password = "relaymesh", p.Token
	}
	for _, r := range p.Routes {
		if _, _, err := net.SplitHostPort(r); err != nil {
			return fmt.Errorf("-nats-routes: %q is not host:port", r)
		}
		opts.Routes = append(opts.Routes, routeURL(r, p.Token))
	}
	return nil
}

func routeURL(addr, token string) *url.URL {
	u := &url.URL{Scheme: "nats-route", Host: addr}
	if token != "" {
		u.User = url.UserPassword("relaymesh", token)
	}
	return u
}

// SetRoutes points a clustered embedded server at the other origins'
// cluster addresses, as gossip finds them (-nats-routes, if given, stays):
// it connects to the new ones, and NATS tells each server of the others,
// so one route is enough for a full mesh. Not clustered, it does nothing.
func (p *Plane) SetRoutes(addrs []string) error {
	if p.server == nil || p.opts.Cluster.Port == 0 {
		return nil
	}
	addrs = slices.Clone(addrs)
	sort.Strings(addrs)
	addrs = slices.Compact(addrs)
	p.routeMu.Lock()
	defer p.routeMu.Unlock()
	if slices.Equal(addrs, p.routes) {
		return nil
	}
	opts := p.opts.Clone()
	seen := map[string]bool{}
	for _, u := range opts.Routes {
		seen[u.Host] = true
	}
	for _, a := range addrs {
		if !seen[a] {
			opts.Routes = append(opts.Routes, routeURL(a, p.token))
		}
	}
	if err := p.server.ReloadOptions(opts); err != nil {
		return fmt.Errorf("NATS routes %v: %w", addrs, err)
	}
	p.routes = addrs
	return nil
}

// Peers names the other servers of the embedded server's cluster that it
// has routes to, sorted: it changes when a server joins or leaves.
func (p *Plane) Peers() string {
	if p.server == nil || p.opts.Cluster.Port == 0 {
		return ""
	}
	rz, err := p.server.Routez(nil)
	if err != nil {
		return ""
	}
	var ids []string
	for _, r := range rz.Routes {
		ids = append(ids, r.RemoteID)
	}
	sort.Strings(ids)
	return strings.Join(slices.Compact(ids), ",")
}

// ClientURL is where other nodes reach the embedded server, or "".
func (p *Plane) ClientURL() string {
	if p.server == nil || !p.exposed || p.server.Addr() == nil {
		return ""
	}
	return p.server.ClientURL()
}

// Close drains the connection and stops the embedded server.
func (p *Plane) Close() {
	if p.Conn != nil {
		_ = p.Conn.Drain()
		p.Conn.Close()
	}
	if p.server != nil {
		p.server.Shutdown()
		p.server.WaitForShutdown()
	}
}
