package gso

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Batcher lets a writer hold what is written to one address: between Hold
// and Release, the datagrams a wrapped socket is asked to send there are
// kept, and Release sends them as one Burst. pion writes a packet's SRTP
// synchronously on the caller's goroutine down to its UDP mux's WriteTo,
// so a viewer's writer that holds its address around a frame makes the
// frame one burst, and DTLS, STUN and RTCP written meanwhile (by other
// goroutines) join it in order. What is written to an address nobody
// holds goes out at once, as before.
type Batcher struct {
	gso        bool
	onFallback func(error)

	mu      sync.RWMutex
	holds   map[netip.AddrPort]*Hold
	open    atomic.Int32 // len(holds), read without mu
	pool    sync.Pool
	conns   []*Conn // the wrapped sockets, under mu
	routes  map[netip.AddrPort]*Route
	watched atomic.Int32 // len(routes), read without mu

	// Bursts and Datagrams count what Release sent; SendErrors the
	// bursts the kernel refused in part.
	Bursts, Datagrams, SendErrors atomic.Int64
}

// NewBatcher makes a Batcher whose sockets use GSO if gso is set and the
// kernel takes it; onFallback, if set, hears of a socket that turned it
// off after a failed send.
func NewBatcher(gso bool, onFallback func(error)) *Batcher {
	return &Batcher{gso: gso, onFallback: onFallback, holds: map[netip.AddrPort]*Hold{}, routes: map[netip.AddrPort]*Route{}}
}

// PacketConn is a socket wrapped by a Batcher: a net.PacketConn (and the
// allocation-free AddrPort reads and writes pion's UDP mux looks for)
// whose writes to a held address wait for the hold's Release.
type PacketConn struct {
	*Conn
	b *Batcher
}

// Wrap makes conn a socket of b's.
func (b *Batcher) Wrap(conn *net.UDPConn) *PacketConn {
	c := New(conn, b.gso)
	c.onFallback = b.onFallback
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
	return &PacketConn{Conn: c, b: b}
}

// WriteTo implements net.PacketConn.
func (p *PacketConn) WriteTo(buf []byte, addr net.Addr) (int, error) {
	if a, ok := addr.(*net.UDPAddr); ok {
		return p.WriteToAddrPort(buf, a.AddrPort())
	}
	return p.UDPConn.WriteTo(buf, addr)
}

// WriteToUDP and WriteToUDPAddrPort shadow the socket's own, so that no
// write bypasses a hold.
func (p *PacketConn) WriteToUDP(buf []byte, addr *net.UDPAddr) (int, error) {
	return p.WriteToAddrPort(buf, addr.AddrPort())
}
func (p *PacketConn) WriteToUDPAddrPort(buf []byte, to netip.AddrPort) (int, error) {
	return p.WriteToAddrPort(buf, to)
}

// ReadFromAddrPort is the socket's ReadFromUDPAddrPort, under the name
// pion's UDP mux looks for.
// Reads also teach watched routes their socket (route.go).
func (p *PacketConn) ReadFromAddrPort(buf []byte) (int, netip.AddrPort, error) {
	n, from, err := p.ReadFromUDPAddrPort(buf)
	if err == nil {
		p.b.heard(from, p.Conn)
	}
	return n, from, err
}

// WriteToAddrPort sends buf to to, or keeps a copy in to's hold.
func (p *PacketConn) WriteToAddrPort(buf []byte, to netip.AddrPort) (int, error) {
	if p.b.open.Load() > 0 {
		key := canonical(to)
		p.b.mu.RLock()
		h := p.b.holds[key]
		p.b.mu.RUnlock()
		if h != nil && h.add(p.Conn, buf, key) {
			return len(buf), nil
		}
	}
	return p.UDPConn.WriteToUDPAddrPort(buf, to)
}

// canonical is an address as holds are keyed: IPv4 unmapped.
func canonical(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// Hold is one address's open burst. Lifecycle: Batcher.Hold → writes →
// Release; holds of the same address nest.
type Hold struct {
	b    *Batcher
	refs int // under b.mu

	mu    sync.Mutex
	key   netip.AddrPort
	open  bool
	conn  *Conn // the socket the held datagrams go out of
	burst Burst
}

// Hold opens (or joins) the hold of address to.
func (b *Batcher) Hold(to netip.AddrPort) *Hold {
	key := canonical(to)
	b.mu.Lock()
	defer b.mu.Unlock()
	if h := b.holds[key]; h != nil {
		h.refs++
		return h
	}
	h, _ := b.pool.Get().(*Hold)
	if h == nil {
		h = &Hold{b: b}
	}
	h.mu.Lock()
	h.key, h.open, h.refs, h.burst.To = key, true, 1, key
	h.mu.Unlock()
	b.holds[key] = h
	b.open.Add(1)
	return h
}

// add keeps a copy of buf, sent from conn, if the hold is still open for
// key (a writer that found it just as it was released, or reused for
// another address, sends its datagram itself).
func (h *Hold) add(conn *Conn, buf []byte, key netip.AddrPort) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.open || h.key != key {
		return false
	}
	if h.burst.Len() > 0 && (h.conn != conn || h.burst.Full(len(buf))) {
		h.flush()
	}
	h.conn = conn
	h.burst.Add(buf)
	return true
}

// flush sends what is held. Under mu.
func (h *Hold) flush() { h.b.Send(h.conn, &h.burst) }

// Send sends burst from c, as Release does, and counts it.
func (b *Batcher) Send(c *Conn, burst *Burst) {
	n := burst.Len()
	if n == 0 {
		return
	}
	if err := c.Send(burst); err != nil {
		b.SendErrors.Add(1)
	}
	b.Bursts.Add(1)
	b.Datagrams.Add(int64(n))
}

// Release ends the caller's share of the hold; the last one sends what it
// holds.
func (h *Hold) Release() {
	b := h.b
	b.mu.Lock()
	h.refs--
	if h.refs > 0 {
		b.mu.Unlock()
		return
	}
	delete(b.holds, h.key)
	b.open.Add(-1)
	b.mu.Unlock()
	h.mu.Lock()
	h.open = false
	h.flush()
	h.conn = nil
	h.mu.Unlock()
	b.pool.Put(h)
}
