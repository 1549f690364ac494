// Package clientaddr finds the address of the client behind an HTTP
// request: the peer's, or, when the peer is a proxy the operator trusts
// (-trusted-proxies), the one the proxies forwarded. Rate limits, the
// auth webhook and viewer placement by zone all need the client, not the
// load balancer in front of every node.
package clientaddr

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the networks whose forwarding headers are believed.
type Proxies []netip.Prefix

// ParseProxies reads a comma-separated list of CIDR prefixes or single
// addresses ("10.0.0.0/8, 192.168.1.7, fd00::/8").
func ParseProxies(s string) (Proxies, error) {
	var out Proxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := parsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("-trusted-proxies: %q is neither an address nor a CIDR prefix (want e.g. 10.0.0.0/8 or 192.168.1.7)", f)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (ps Proxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client is the client's address for a request from peer (host:port, as
// http.Request.RemoteAddr) with headers h. The chain of hops is read from
// the right, nearest first: each hop a trusted proxy vouches for the one
// before it, and the first hop that is not a trusted proxy is the client.
// Entries further left were written by the client itself and prove
// nothing. RFC 7239's Forwarded is read when present, X-Forwarded-For
// otherwise. An entry that is not an address ("unknown", an obfuscated
// identifier, RFC 7239 §6.3) ends the walk at the last proxy that spoke.
func (ps Proxies) Client(peer string, h http.Header) netip.Addr {
	addr, ok := hostAddr(peer)
	if !ok || len(ps) == 0 || !ps.trusts(addr) {
		return addr
	}
	hops := forwardedFor(h.Values("Forwarded"))
	if hops == nil {
		hops = xForwardedFor(h.Values("X-Forwarded-For"))
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := hostAddr(hops[i])
		if !ok {
			return addr
		}
		addr = a
		if !ps.trusts(a) {
			return a
		}
	}
	return addr
}

// Wrap makes next see the client's address as r.RemoteAddr (port 0 when
// it came from a proxy's header), so that every use of it, the per-client
// limits and the auth webhook's "client" included, sees the client rather
// than the proxy. With no trusted proxies next is returned as it is.
func (ps Proxies) Wrap(next http.Handler) http.Handler {
	if len(ps) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, _ := hostAddr(r.RemoteAddr)
		if c := ps.Client(r.RemoteAddr, r.Header); c.IsValid() && c != peer {
			r2 := r.Clone(r.Context())
			r2.RemoteAddr = netip.AddrPortFrom(c, 0).String()
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// hostAddr parses "ip", "ip:port", "[ipv6]:port" or "[ipv6]".
func hostAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i] // a zone: not part of the address's identity here
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// xForwardedFor lists the X-Forwarded-For hops in order, over every line
// of the header (proxies may append a line rather than extend one).
func xForwardedFor(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, f := range strings.Split(l, ",") {
			out = append(out, strings.TrimSpace(f))
		}
	}
	return out
}

// forwardedFor lists the for= parameters of RFC 7239 Forwarded elements in
// order, nil when the header is absent. An element without for= counts as
// a hop that is not an address.
func forwardedFor(lines []string) []string {
	if len(lines) == 0 {
		return nil
	}
	out := []string{}
	for _, l := range lines {
		for _, elem := range splitQuoted(l, ',') {
			hop := ""
			for _, pair := range splitQuoted(elem, ';') {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					hop = strings.Trim(strings.TrimSpace(v), `"`)
				}
			}
			out = append(out, hop)
		}
	}
	return out
}

// splitQuoted splits s at sep outside double quotes (RFC 7239 §4: an IPv6
// address with a port is a quoted string).
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
