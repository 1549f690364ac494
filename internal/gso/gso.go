// Package gso sends bursts of UDP datagrams to one address in as few
// system calls as the kernel allows: a burst goes out in one sendmmsg, in
// which each run of equal-sized datagrams (the last may be shorter) is one
// message with UDP generic segmentation offload (UDP_SEGMENT, Linux
// 4.18+), so the stack is walked once per run instead of once per
// datagram, and each datagram outside a run is a message of its own.
// quic-go segments its sends the same way for the same reason. A GSO
// message the kernel refuses is sent again as its datagrams and turns GSO
// off for the socket, so no datagram is lost to a kernel or device that
// refuses it.
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
	batch batchWriter // sendmmsg; a test's may refuse GSO
	gso   atomic.Bool
	v6    bool // an IPv6 (or dual-stack) socket

	// Counters of system calls, for tests and metrics.
	GSOSends, BatchSends, Fallbacks atomic.Int64
	// onFallback, if set, is called once when a failed send turns GSO off.
	onFallback func(error)
}

// batchWriter sends messages with sendmmsg: rawBatch; a test's may
// refuse GSO.
type batchWriter interface {
	WriteBatch([]ipv4.Message, *mmsgScratch) (int, error)
}

// New wraps conn. gso asks for segmentation offload: it is used only if
// the kernel takes UDP_SEGMENT on the socket (Supported).
func New(conn *net.UDPConn, gso bool) *Conn {
	c := &Conn{UDPConn: conn}
	// sendmmsg's addresses are in the socket's family: an IPv6 socket
	// ([::], dual-stack included) takes IPv4 ones mapped.
	a, ok := conn.LocalAddr().(*net.UDPAddr)
	c.v6 = ok && a.IP != nil && a.IP.To4() == nil
	c.batch = newRawBatch(conn, c.v6)
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

	msgs     []ipv4.Message // sendmmsg scratch
	runs     [][2]int       // each message's first datagram and count
	oob      []byte         // the messages' UDP_SEGMENT control messages
	tailRuns [][2]int       // split's scratch
	mm       mmsgScratch    // the messages in the kernel's form
	addr     net.UDPAddr    // To, for sendmmsg
	ip       [16]byte
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

// queue adds datagrams i to i+n to the sendmmsg batch, one message each,
// reusing the scratch's slots.
func (b *Burst) queue(i, n int) {
	for k := i; k < i+n; k++ {
		b.message(k, 1, nil)
	}
}

// message adds datagrams i to i+n as one message: a GSO run of segments
// of the first's size when oob (its UDP_SEGMENT control message) is set.
func (b *Burst) message(i, n int, oob []byte) {
	if len(b.msgs) < cap(b.msgs) {
		b.msgs = b.msgs[:len(b.msgs)+1]
	} else {
		b.msgs = append(b.msgs, ipv4.Message{})
	}
	m := &b.msgs[len(b.msgs)-1]
	if cap(m.Buffers) == 0 {
		m.Buffers = make([][]byte, 1)
	}
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	m.Buffers = m.Buffers[:1]
	m.Buffers[0], m.OOB, m.Addr = b.buf[start:b.ends[i+n-1]], oob, b.udpAddr()
	b.runs = append(b.runs[:len(b.msgs)-1], [2]int{i, n})
}

// Send sends b's datagrams to b.To, in order, and resets b: all of them in
// one sendmmsg, each run of two or more equal-sized datagrams (the last
// may be shorter) as one message with UDP_SEGMENT when GSO is on, every
// other datagram as a message of its own. A video frame and the audio
// packet beside it are one system call.
func (c *Conn) Send(b *Burst) error {
	defer b.Reset()
	c.prepare(b)
	return c.flushBatch(b)
}

// prepare makes b's messages, as Send sends them.
func (c *Conn) prepare(b *Burst) {
	b.msgs, b.oob = b.msgs[:0], b.oob[:0]
	if !c.v6 {
		b.To = netip.AddrPortFrom(b.To.Addr().Unmap(), b.To.Port()) // a udp4 socket takes no mapped address
	}
	for i := 0; i < b.Len(); {
		n := run(b, i)
		if n < 2 || !c.gso.Load() {
			b.queue(i, n)
		} else {
			b.message(i, n, b.segment(len(b.datagram(i))))
		}
		i += n
	}
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

// segment is a UDP_SEGMENT control message for segments of size bytes, in
// the burst's scratch (a burst's runs each get their own).
func (b *Burst) segment(size int) []byte {
	space := unix.CmsgSpace(2)
	if len(b.oob)+space > cap(b.oob) {
		b.oob = make([]byte, 0, max(2*cap(b.oob), 8*space)) // the messages queued so far keep the old one
	}
	oob := b.oob[len(b.oob) : len(b.oob)+space]
	b.oob = b.oob[:len(b.oob)+space]
	// The control message is in the host's byte order (cmsg(3)).
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(size))
	return oob
}

// flushBatch sends the queued messages. A GSO message the kernel refuses
// (a device that cannot segment) is sent again as its datagrams, one
// message each, and turns GSO off for the socket: nothing is lost.
func (c *Conn) flushBatch(b *Burst) error {
	defer func() { b.msgs, b.oob = b.msgs[:0], b.oob[:0] }()
	for sent := 0; sent < len(b.msgs); {
		n, err := c.write(b.msgs[sent:], &b.mm)
		sent += n
		if err == nil {
			continue
		}
		if !refusedGSO(b.msgs, sent) {
			return err
		}
		if c.gso.Swap(false) && c.onFallback != nil {
			c.onFallback(err)
		}
		c.Fallbacks.Add(1)
		b.split(sent)
	}
	return nil
}

// write sends msgs with sendmmsg until all are sent or a call fails, and
// counts the calls and the GSO messages sent. It returns how many were.
func (c *Conn) write(msgs []ipv4.Message, s *mmsgScratch) (int, error) {
	sent := 0
	for sent < len(msgs) {
		n, err := c.batch.WriteBatch(msgs[sent:], s)
		c.BatchSends.Add(1)
		n = max(n, 0)
		for _, m := range msgs[sent : sent+n] {
			if m.OOB != nil {
				c.GSOSends.Add(1)
			}
		}
		sent += n
		if err == nil && n == 0 {
			err = errors.New("sent nothing")
		}
		if err != nil {
			return sent, fmt.Errorf("sendmmsg: %w", err)
		}
	}
	return sent, nil
}

// refusedGSO reports whether a send that failed after sent messages failed
// at a GSO one.
func refusedGSO(msgs []ipv4.Message, sent int) bool {
	return sent < len(msgs) && msgs[sent].OOB != nil
}

// split turns the messages from k on, k a GSO run, into a message per
// datagram: GSO is off for the socket from now on.
func (b *Burst) split(k int) {
	b.tailRuns = append(b.tailRuns[:0], b.runs[k:len(b.msgs)]...)
	b.msgs = b.msgs[:k]
	for _, r := range b.tailRuns {
		b.queue(r[0], r[1])
	}
}
