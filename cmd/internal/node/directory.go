package node

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/relaymesh/relaymesh/ingest"
	"github.com/relaymesh/relaymesh/internal/errs"
	"github.com/relaymesh/relaymesh/topology/control"
)

// openDirectory joins the cluster's stream directory as this origin.
func (n *Node) openDirectory() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := control.OpenDirectory(ctx, control.DirectoryParams{
		Conn: n.plane.Conn, Origin: n.cfg.NodeID, HTTP: advertisedHTTP(n.cfg.HTTP, n.httpLn.Addr()), Logger: n.log, Peers: n.plane.Peers,
		// The cluster is joined after the directory opens and before any
		// claim is made (claims come from requests).
		Departed: func(origin string) (time.Time, bool) {
			if n.cluster == nil {
				return time.Time{}, false
			}
			return n.cluster.DepartedAt(origin)
		},
	})
	if err != nil {
		return err
	}
	n.dir = d
	return nil
}

// directoryWait bounds what a request waits for the stream directory: while
// NATS is away, a publisher or a viewer gets a 503 in this time rather than
// hanging (10 s measured before).
const directoryWait = 2 * time.Second

// planeUp reports whether this node's NATS connection is up.
func (n *Node) planeUp() bool { return n.plane != nil && n.plane.Conn.IsConnected() }

// claim reserves stream for this origin for a publisher of priority: a
// name published on another origin at the same priority is refused with
// 409 naming that origin; at a higher one, this publisher is its backup
// (live false).
func (n *Node) claim(ctx context.Context, stream string, priority int) (bool, error) {
	if !n.planeUp() {
		return false, errs.Errorf(ingest.ErrUnavailable, "the cluster's control plane (NATS) is unreachable, so no stream can be claimed; retry shortly")
	}
	ctx, cancel := context.WithTimeout(ctx, directoryWait)
	defer cancel()
	live, err := n.dir.ClaimAt(ctx, stream, priority)
	if errors.Is(err, control.ErrClaimed) {
		return false, errs.Errorf(ingest.ErrClaimed, "stream %q is already being published at priority %d (%v); stop that publisher, pick another name, or publish a backup with another ?priority=", stream, priority, err)
	}
	if err != nil {
		n.log.Error("stream directory unavailable", "stream", stream, "err", err)
		return false, errs.Errorf(ingest.ErrUnavailable, "the cluster's stream directory is unreachable; retry shortly")
	}
	return live, nil
}

// release gives the name back when the stream has ended for good.
func (n *Node) release(stream string) {
	if n.dir == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := n.dir.Release(ctx, stream); err != nil {
		n.log.Warn("stream directory: release failed; the claim will expire", "stream", stream, "err", err)
	}
}

// directoryEntries returns the cluster's stream directory by stream name,
// and every origin's publisher records; empty when they cannot be read in
// time (the API then shows local streams).
func (n *Node) directoryEntries() (map[string]control.Entry, map[string][]control.Publisher) {
	out := map[string]control.Entry{}
	if n.dir == nil {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	entries, err := n.dir.List(ctx)
	if err != nil {
		return out, nil
	}
	for _, e := range entries {
		out[e.Stream] = e
	}
	pubs, _ := n.dir.AllPublishers(ctx)
	return out, pubs
}

// advertisedHTTP is the HTTP address other nodes of the cluster reach: the
// configured host if there is one; else the first non-loopback IPv4
// address of an interface that is up (a pod's IP); else loopback. Not
// -public-ip, which is for media: in Kubernetes it is the node's address,
// where only the media ports are mapped. A bare hostname is not used
// either: another pod cannot resolve it.
func advertisedHTTP(configured string, actual net.Addr) string {
	host, _, _ := net.SplitHostPort(configured)
	_, port, _ := net.SplitHostPort(actual.String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip := firstLANAddress(); ip != "" {
			host = ip
		}
	}
	return net.JoinHostPort(host, port)
}

func firstLANAddress() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	return ""
}
