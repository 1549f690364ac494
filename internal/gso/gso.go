// Package gso sends bursts of UDP datagrams to one address in as few
// system calls as the kernel allows: a run of equal-sized datagrams (the
// last may be shorter) goes out in one sendmsg with UDP generic
// segmentation offload (UDP_SEGMENT, Linux 4.18+), which walks the stack
// once per run instead of once per datagram; what does not fit GSO's rules
// goes out in one sendmmsg. quic-go sends the same way for the same
// reason. A failed GSO send is sent again without it and turns GSO off for
// the socket, so no datagram is lost to a kernel or device that refuses it.
package gso

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Kernel limits on one GSO send (include/linux/udp.h UDP_MAX_SEGMENTS, and
// an IP datagram's 64 KiB).
const (
	maxSegments = 64
	maxGSOBytes = 65000
)

// Conn is a UDP socket that sends Bursts. It is safe for concurrent use
// and takes no lock: each Burst carries its own scratch, so writers on
// several cores send at once.
type Conn struct {
	*net.UDPConn
	batch interface {
		WriteBatch([]ipv4.Message, int) (int, error)
	}
	gso atomic.Bool
	v6  bool // an IPv6 (or dual-stack) socket

	// Counters of system calls, for tests and metrics.
	GSOSends, BatchSends, Fallbacks atomic.Int64
	// sendGSO sends one run with UDP_SEGMENT; a test replaces it to fail.
	sendGSO func(c *Conn, b *Burst, run []byte, segment int) error
	// onFallback, if set, is called once when a failed send turns GSO off.
	onFallback func(error)
}

// New wraps conn. gso asks for segmentation offload: it is used only if
// the kernel takes UDP_SEGMENT on the socket (Supported).
func New(conn *net.UDPConn, gso bool) *Conn {
	c := &Conn{UDPConn: conn, sendGSO: writeGSO}
	// sendmmsg's addresses are in the socket's family: an IPv6 socket
	// ([::], dual-stack included) takes IPv4 ones mapped.
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP != nil && a.IP.To4() == nil {
		c.batch, c.v6 = ipv6.NewPacketConn(conn), true
	} else {
		c.batch = ipv4.NewPacketConn(conn)
	}
	c.gso.Store(gso && Supported(conn))
	return c
}

// GSO reports whether the socket sends with segmentation offload.
func (c *Conn) GSO() bool { return c.gso.Load() }

// Supported reports whether the kernel takes UDP_SEGMENT on conn: the
// option exists from Linux 4.18 on, for UDP over IPv4 and IPv6.
func Supported(conn *net.UDPConn) bool {
	raw, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		return false
	}
	return serr == nil
}

// Burst is datagrams for one address, back to back in one buffer, so that
// a run of them is already the buffer one GSO send takes. Reset reuses it,
// with the scratch its sends need: a reused Burst sends without
// allocating.
type Burst struct {
	To   netip.AddrPort
	buf  []byte
	ends []int

	msgs []ipv4.Message // sendmmsg scratch
	oob  []byte         // the UDP_SEGMENT control message
	addr net.UDPAddr    // To, for sendmmsg
	ip   [16]byte
}

// Add appends a copy of datagram p.
func (b *Burst) Add(p []byte) {
	b.buf = append(b.buf, p...)
	b.ends = append(b.ends, len(b.buf))
}

// Room returns space for a datagram of up to n bytes at the end of the
// burst, for the caller to write in place (an SRTP packet encrypted where
// it lies); Commit(k) then adds its first k bytes as the next datagram.
func (b *Burst) Room(n int) []byte {
	b.buf = slices.Grow(b.buf, n)
	return b.buf[len(b.buf) : len(b.buf)+n]
}

// Commit adds the first k bytes of the last Room as a datagram.
func (b *Burst) Commit(k int) {
	b.buf = b.buf[:len(b.buf)+k]
	b.ends = append(b.ends, len(b.buf))
}

// Full says whether a datagram of n bytes would take the burst past what
// one send carries (64 segments, 64 KB).
func (b *Burst) Full(n int) bool { return b.Len() >= maxSegments || b.Size()+n > maxGSOBytes }

// Len is the number of datagrams held; Size their bytes.
func (b *Burst) Len() int  { return len(b.ends) }
func (b *Burst) Size() int { return len(b.buf) }

// Reset empties the burst, keeping its memory.
func (b *Burst) Reset() { b.buf, b.ends = b.buf[:0], b.ends[:0] }

func (b *Burst) datagram(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.buf[start:b.ends[i]]
}

// udpAddr is To as a *net.UDPAddr in b's own memory.
func (b *Burst) udpAddr() *net.UDPAddr {
	to := b.To.Addr().Unmap()
	if to.Is4() {
		a := to.As4()
		b.addr.IP = append(b.ip[:0], a[:]...)
	} else {
		a := to.As16()
		b.addr.IP = append(b.ip[:0], a[:]...)
	}
	b.addr.Port, b.addr.Zone = int(b.To.Port()), ""
	return &b.addr
}

// queue adds datagrams i to i+n to the sendmmsg batch, reusing the
// scratch's slots.
func (b *Burst) queue(i, n int) {
	to := b.udpAddr()
	for k := i; k < i+n; k++ {
		if len(b.msgs) < cap(b.msgs) {
			b.msgs = b.msgs[:len(b.msgs)+1]
		} else {
			b.msgs = append(b.msgs, ipv4.Message{})
		}
		m := &b.msgs[len(b.msgs)-1]
		if cap(m.Buffers) == 0 {
			m.Buffers = make([][]byte, 1)
		}
		m.Buffers = m.Buffers[:1]
		m.Buffers[0], m.Addr = b.datagram(k), to
	}
}

// Send sends b's datagrams to b.To, in order, and resets b. Runs of two or
// more equal-sized datagrams (the last may be shorter) go out with GSO when
// it is on; the others, and every run when it is off, with sendmmsg.
func (c *Conn) Send(b *Burst) error {
	defer b.Reset()
	b.msgs = b.msgs[:0]
	if !c.v6 {
		b.To = netip.AddrPortFrom(b.To.Addr().Unmap(), b.To.Port()) // a udp4 socket takes no mapped address
	}
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for i := 0; i < b.Len(); {
		n := run(b, i)
		if n < 2 || !c.gso.Load() {
			b.queue(i, n)
			i += n
			continue
		}
		keep(c.flushBatch(b))
		start := 0
		if i > 0 {
			start = b.ends[i-1]
		}
		seg := len(b.datagram(i))
		if err := c.sendGSO(c, b, b.buf[start:b.ends[i+n-1]], seg); err != nil {
			// Sent again one by one; GSO stays off for this socket.
			if c.gso.Swap(false) && c.onFallback != nil {
				c.onFallback(err)
			}
			c.Fallbacks.Add(1)
			b.queue(i, n)
		} else {
			c.GSOSends.Add(1)
		}
		i += n
	}
	keep(c.flushBatch(b))
	return firstErr
}

// run is how many datagrams from i on one GSO send can carry: equal in
// size, the last possibly shorter, within the kernel's limits.
func run(b *Burst, i int) int {
	seg := len(b.datagram(i))
	n, total := 1, seg
	for k := i + 1; k < b.Len() && n < maxSegments; k++ {
		l := len(b.datagram(k))
		if l > seg || total+l > maxGSOBytes {
			break
		}
		n++
		total += l
		if l < seg {
			break // a shorter one ends the run
		}
	}
	return n
}

// flushBatch sends the datagrams queued for sendmmsg.
func (c *Conn) flushBatch(b *Burst) error {
	defer func() { b.msgs = b.msgs[:0] }()
	for sent := 0; sent < len(b.msgs); {
		n, err := c.batch.WriteBatch(b.msgs[sent:], 0)
		c.BatchSends.Add(1)
		if err != nil {
			return fmt.Errorf("sendmmsg: %w", err)
		}
		if n == 0 {
			return errors.New("sendmmsg sent nothing")
		}
		sent += n
	}
	return nil
}

// writeGSO sends run, segments of segment bytes, with one sendmsg.
func writeGSO(c *Conn, b *Burst, run []byte, segment int) error {
	if b.oob == nil {
		b.oob = make([]byte, unix.CmsgSpace(2))
	}
	// The control message is in the host's byte order (cmsg(3)).
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b.oob[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b.oob[unix.CmsgLen(0):], uint16(segment))
	_, _, err := c.WriteMsgUDPAddrPort(run, b.oob, b.To)
	return err
}
