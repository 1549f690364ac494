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
	"strconv"
	"strings"
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
	Conn     *nats.Conn
	server   *server.Server // nil when external
	storeDir string         // the embedded server's JetStream folder
	exposed  bool           // the embedded server listens for other nodes (-nats-listen)
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
	opts := &server.Options{ServerName: p.Name, NoSigs: true, NoLog: true, DontListen: true,
		JetStream: true, JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 64 << 20}
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
			// Without a client listener, readiness waits for the whole
			// startup, which clustered JetStream holds until a quorum of
			// origins runs: a lone origin never started, and shutting it
			// down then hung. A loopback listener nobody is told of.
			opts.DontListen, opts.Host, opts.Port = false, "127.0.0.1", server.RANDOM_PORT
		}
	}
	// JetStream holds the stream directory. Its buckets are in memory; the
	// folder is only what the server insists on having (and, clustered,
	// where its Raft logs live).
	dir, err := os.MkdirTemp("", "relaymesh-nats-")
	if err != nil {
		return nil, err
	}
	opts.StoreDir = dir
	if p.Token != "" {
		opts.Authorization = p.Token
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if p.Cluster != "" && p.Log != nil {
		opts.NoLog = false
		ns.SetLoggerV2(serverLog{p.Log.With("plane", "nats")}, false, false, false)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		ns.Shutdown()
		os.RemoveAll(dir)
		return nil, errors.New("embedded NATS did not become ready in 5 s")
	}
	nc, err := nats.Connect("", nats.Name(p.Name), nats.InProcessServer(ns), nats.Token(p.Token))
	if err != nil {
		ns.Shutdown()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	return &Plane{Conn: nc, server: ns, storeDir: dir, exposed: exposed}, nil
}

// clusterOptions sets the embedded server's routes: the origins' servers
// form one NATS cluster, and JetStream replicates the directory over it, so
// losing one origin loses no control plane. With a token, routes present
// it too; without one they must stay on loopback.
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
	if len(p.Routes) == 0 {
		return errors.New("-nats-cluster needs -nats-routes: every origin's cluster address, this one's included")
	}
	opts.Cluster = server.ClusterOpts{Name: ClusterName, Host: host, Port: n}
	if p.Token != "" {
		opts.Cluster.Username, opts.Cluster.Password = "relaymesh", p.Token
	}
	for _, r := range p.Routes {
		if _, _, err := net.SplitHostPort(r); err != nil {
			return fmt.Errorf("-nats-routes: %q is not host:port", r)
		}
		u := &url.URL{Scheme: "nats-route", Host: r}
		if p.Token != "" {
			u.User = url.UserPassword("relaymesh", p.Token)
		}
		opts.Routes = append(opts.Routes, u)
	}
	return nil
}

// Replicas is how many copies of the directory a control plane with
// routes keeps: three where there are three servers or more (a quorum
// survives losing any one), else as many as there are.
func Replicas(routes int) int { return max(1, min(3, routes)) }

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
		os.RemoveAll(p.storeDir)
	}
}
