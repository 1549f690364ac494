package node

import "net"

// Clustered origins (-nats-cluster) find each other's NATS servers through
// gossip: each advertises its cluster address in its membership metadata,
// and each points its embedded server at the others'. NATS then tells
// every server of the rest, so one origin reached through -join is enough;
// -nats-routes, where given, are kept as well.

// advertisedRoute is the -nats-cluster address as the other origins reach
// it: a wildcard host becomes the host this node advertises for HTTP.
func advertisedRoute(cluster, host string) string {
	if cluster == "" {
		return ""
	}
	h, port, err := net.SplitHostPort(cluster)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		h = host
	}
	return net.JoinHostPort(h, port)
}

// watchRoutes keeps the embedded server's routes to the other clustered
// origins that gossip shows, until the node closes.
func (n *Node) watchRoutes() {
	defer n.wg.Done()
	for {
		changed := n.cluster.Changed()
		var routes []string
		for _, m := range n.cluster.Members() {
			if m.Route != "" && m.ID != n.cfg.NodeID {
				routes = append(routes, m.Route)
			}
		}
		if err := n.plane.SetRoutes(routes); err != nil {
			n.log.Warn("NATS routes to the other origins not set", "routes", routes, "err", err)
		}
		select {
		case <-n.closing:
			return
		case <-changed:
		}
	}
}
