package gso

import (
	"net/netip"
	"sync/atomic"
)

// Route is the socket an address is heard on, for a writer that sends to
// it without going through a PacketConn's WriteTo (an SRTP sender below
// pion, internal/rtc/egress.go). A node on an unspecified address has one
// socket per interface, and a packet must leave from the one the peer
// reaches: its ICE pair names that address, not the socket. Lifecycle:
// Batcher.Watch → Conn, as often as wanted → Close.
type Route struct {
	b    *Batcher
	key  netip.AddrPort
	refs int // under b.mu
	conn atomic.Pointer[Conn]
}

// Watch starts learning the socket to reaches b's sockets from: each read
// from it records the socket it came in on. Watches of one address are
// shared.
func (b *Batcher) Watch(to netip.AddrPort) *Route {
	key := canonical(to)
	b.mu.Lock()
	defer b.mu.Unlock()
	if r := b.routes[key]; r != nil {
		r.refs++
		return r
	}
	r := &Route{b: b, key: key, refs: 1}
	if len(b.conns) == 1 {
		// One socket: nothing to learn.
		r.conn.Store(b.conns[0])
	}
	b.routes[key] = r
	b.watched.Add(1)
	return r
}

// Addr is the address watched.
func (r *Route) Addr() netip.AddrPort { return r.key }

// Conn is the socket the address was last heard on, nil before it was.
func (r *Route) Conn() *Conn { return r.conn.Load() }

// Seed sets the socket, if none was heard yet.
func (r *Route) Seed(c *Conn) {
	if c != nil {
		r.conn.CompareAndSwap(nil, c)
	}
}

// Close ends the caller's watch.
func (r *Route) Close() {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.refs--; r.refs == 0 {
		delete(b.routes, r.key)
		b.watched.Add(-1)
	}
}

// Watched is how many addresses are watched.
func (b *Batcher) Watched() int { return int(b.watched.Load()) }

// heard records that from was heard on c, if someone watches it. It costs
// one atomic load when no address is watched, and a read-locked map
// lookup when some are: a viewer's reads are few (RTCP, STUN).
func (b *Batcher) heard(from netip.AddrPort, c *Conn) {
	if b.watched.Load() == 0 {
		return
	}
	b.mu.RLock()
	r := b.routes[canonical(from)]
	b.mu.RUnlock()
	if r != nil && r.conn.Load() != c {
		r.conn.Store(c)
	}
}
