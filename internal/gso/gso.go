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
	"sync"
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

// Conn is a UDP socket that sends Bursts. It is safe for concurrent use;
// Send holds a lock per call, so one burst's runs are not interleaved with
// another's.
type Conn struct {
	*net.UDPConn
	batch interface {
		WriteBatch([]ipv4.Message, int) (int, error)
	}
	gso atomic.Bool

	mu   sync.Mutex
	msgs []ipv4.Message // sendmmsg scratch
	oob  []byte         // the UDP_SEGMENT control message

	// Counters of system calls, for tests and metrics.
	GSOSends, BatchSends, Fallbacks atomic.Int64
	// sendGSO sends one run with UDP_SEGMENT; a test replaces it to fail.
	sendGSO func(c *Conn, b []byte, segment int, to *net.UDPAddr) error
}

// New wraps conn. gso asks for segmentation offload: it is used only if
// the kernel takes UDP_SEGMENT on the socket (Supported).
func New(conn *net.UDPConn, gso bool) *Conn {
	c := &Conn{UDPConn: conn, oob: make([]byte, unix.CmsgSpace(2)), sendGSO: writeGSO}
	// sendmmsg's addresses are in the socket's family: an IPv6 socket
	// ([::], dual-stack included) takes IPv4 ones mapped.
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP != nil && a.IP.To4() == nil {
		c.batch = ipv6.NewPacketConn(conn)
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
// a run of them is already the buffer one GSO send takes. Reset reuses it.
type Burst struct {
	To   *net.UDPAddr
	buf  []byte
	ends []int
}

// Add appends a copy of datagram p.
func (b *Burst) Add(p []byte) {
	b.buf = append(b.buf, p...)
	b.ends = append(b.ends, len(b.buf))
}

// Len is the number of datagrams held.
func (b *Burst) Len() int { return len(b.ends) }

// Reset empties the burst, keeping its memory.
func (b *Burst) Reset() { b.buf, b.ends = b.buf[:0], b.ends[:0] }

func (b *Burst) datagram(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.buf[start:b.ends[i]]
}

// Send sends b's datagrams to b.To, in order, and resets b. Runs of two or
// more equal-sized datagrams (the last may be shorter) go out with GSO when
// it is on; the others, and every run when it is off, with sendmmsg.
func (c *Conn) Send(b *Burst) error {
	defer b.Reset()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = c.msgs[:0]
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for i := 0; i < b.Len(); {
		n := c.run(b, i)
		if n < 2 || !c.gso.Load() {
			for k := i; k < i+n; k++ {
				c.msgs = append(c.msgs, ipv4.Message{Buffers: [][]byte{b.datagram(k)}, Addr: b.To})
			}
			i += n
			continue
		}
		keep(c.flushBatch())
		start := 0
		if i > 0 {
			start = b.ends[i-1]
		}
		seg := len(b.datagram(i))
		if err := c.sendGSO(c, b.buf[start:b.ends[i+n-1]], seg, b.To); err != nil {
			// Sent again one by one; GSO stays off for this socket.
			c.gso.Store(false)
			c.Fallbacks.Add(1)
			for k := i; k < i+n; k++ {
				c.msgs = append(c.msgs, ipv4.Message{Buffers: [][]byte{b.datagram(k)}, Addr: b.To})
			}
		} else {
			c.GSOSends.Add(1)
		}
		i += n
	}
	keep(c.flushBatch())
	return firstErr
}

// run is how many datagrams from i on one GSO send can carry: equal in
// size, the last possibly shorter, within the kernel's limits.
func (c *Conn) run(b *Burst, i int) int {
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

// flushBatch sends the datagrams collected for sendmmsg. Under mu.
func (c *Conn) flushBatch() error {
	defer func() { c.msgs = c.msgs[:0] }()
	for sent := 0; sent < len(c.msgs); {
		n, err := c.batch.WriteBatch(c.msgs[sent:], 0)
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

// writeGSO sends b, segments of segment bytes, with one sendmsg.
func writeGSO(c *Conn, b []byte, segment int, to *net.UDPAddr) error {
	// The control message is in the host's byte order (cmsg(3)).
	h := (*unix.Cmsghdr)(unsafe.Pointer(&c.oob[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(c.oob[unix.CmsgLen(0):], uint16(segment))
	_, _, err := c.WriteMsgUDP(b, c.oob, to)
	return err
}
