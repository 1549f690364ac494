// Package control is the NATS adapter of the control plane: an embedded
// nats-server for the single-machine default, or a connection to an external
// cluster, behind the same *nats.Conn.
package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Params configures the control-plane connection.
type Params struct {
	URL    string // external NATS; empty starts an embedded server
	Listen string // embedded only: expose it on this address; empty keeps it in-process
	Name   string // client name (the node id)
}

// Plane is a connected control plane. Lifecycle: Open → use Conn → Close.
type Plane struct {
	Conn     *nats.Conn
	server   *server.Server // nil when external
	storeDir string         // the embedded server's JetStream folder
}

// Open connects to the control plane, starting the embedded server first
// when no URL is given. The embedded server listens on no port unless
// Listen is set: nodes in this process reach it in-process.
func Open(p Params) (*Plane, error) {
	if p.URL != "" {
		nc, err := nats.Connect(p.URL, nats.Name(p.Name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
		if err != nil {
			return nil, fmt.Errorf("connect to NATS %s: %w", p.URL, err)
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
		if n == 0 {
			// Port 0 means "any free port" everywhere else in relaymesh;
			// nats-server reads it as its default 4222.
			n = server.RANDOM_PORT
		}
		opts.DontListen, opts.Host, opts.Port = false, host, n
	}
	// JetStream holds the stream directory. Its buckets are in memory; the
	// folder is only what the server insists on having.
	dir, err := os.MkdirTemp("", "relaymesh-nats-")
	if err != nil {
		return nil, err
	}
	opts.StoreDir = dir
	ns, err := server.NewServer(opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		ns.Shutdown()
		os.RemoveAll(dir)
		return nil, errors.New("embedded NATS did not become ready in 5 s")
	}
	nc, err := nats.Connect("", nats.Name(p.Name), nats.InProcessServer(ns))
	if err != nil {
		ns.Shutdown()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	return &Plane{Conn: nc, server: ns, storeDir: dir}, nil
}

// ClientURL is where other nodes reach the embedded server, or "".
func (p *Plane) ClientURL() string {
	if p.server == nil || p.server.Addr() == nil {
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
