package gso

import (
	"errors"
	"net"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// rawBatch is sendmmsg(2) made as a raw system call, one that does not
// tell the Go scheduler it has entered the kernel. A turn's sendmmsg on
// a busy origin runs for hundreds of microseconds (every datagram's path
// down the stack, and on loopback the receiver's too), which the
// scheduler counts as blocking: its monitor thread (sysmon) then polls
// every 20 µs instead of backing off, takes the writer's P away and hands
// it to another thread, and the writer waits for one when the call
// returns. This call never blocks: the socket is non-blocking, so a full
// send buffer is EAGAIN, on which the runtime's poller waits for the
// socket as any write does. The CPU is the writer's either way.
type rawBatch struct {
	rc  syscall.RawConn
	err error // SyscallConn's, for a conn that has none
	v6  bool  // addresses go as sockaddr_in6 (IPv4 ones mapped)
}

func newRawBatch(conn *net.UDPConn, v6 bool) *rawBatch {
	rc, err := conn.SyscallConn()
	return &rawBatch{rc: rc, err: err, v6: v6}
}

// mmsghdr is struct mmsghdr of <sys/socket.h>: a message and the bytes
// the kernel sent of it.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// mmsgScratch is a sendmmsg's messages in the kernel's form. Each Burst
// and each Outbox has its own (so writers on several cores send at once
// on one socket), kept across sends, so a send allocates nothing once
// warm. send, the function the socket's raw conn calls, is made once with
// it: a closure made per call would be allocated per call.
type mmsgScratch struct {
	hdrs []mmsghdr
	iovs []unix.Iovec
	sa4  []unix.RawSockaddrInet4
	sa6  []unix.RawSockaddrInet6

	send  func(fd uintptr) bool
	n     int
	errno syscall.Errno
}

var errAddr = errors.New("sendmmsg: a message without a UDP address")

// WriteBatch sends ms with sendmmsg, its kernel form made in s: it
// returns how many were sent; an error is that of the first not sent
// (the kernel reports an error after the first message at the next call).
func (r *rawBatch) WriteBatch(ms []ipv4.Message, s *mmsgScratch) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(ms) == 0 {
		return 0, nil
	}
	if err := s.fill(ms, r.v6); err != nil {
		return 0, err
	}
	if s.send == nil {
		s.send = s.sendmmsg
	}
	s.n, s.errno = 0, 0
	err := r.rc.Write(s.send)
	runtime.KeepAlive(ms)
	if err != nil {
		return 0, err
	}
	if s.errno != 0 {
		return 0, s.errno
	}
	return s.n, nil
}

// sendmmsg is one raw sendmmsg of the filled messages; false (EAGAIN)
// has the poller wait for room in the send buffer and call it again.
func (s *mmsgScratch) sendmmsg(fd uintptr) bool {
	for {
		r1, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(len(s.hdrs)), 0, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		s.n, s.errno = int(r1), e
		return true
	}
}

// fill makes ms's headers: each message's buffers as its iovecs, its
// address as the socket family's sockaddr, its control message as is.
func (s *mmsgScratch) fill(ms []ipv4.Message, v6 bool) error {
	iovs := 0
	for _, m := range ms {
		iovs += len(m.Buffers)
	}
	s.hdrs = grow(s.hdrs, len(ms))
	s.iovs = grow(s.iovs, iovs)
	if v6 {
		s.sa6 = grow(s.sa6, len(ms))
	} else {
		s.sa4 = grow(s.sa4, len(ms))
	}
	iov := 0
	for i, m := range ms {
		h := &s.hdrs[i]
		*h = mmsghdr{}
		first := iov
		for _, b := range m.Buffers {
			v := &s.iovs[iov]
			*v = unix.Iovec{}
			if len(b) > 0 {
				v.Base = &b[0]
			}
			v.SetLen(len(b))
			iov++
		}
		if iov > first {
			h.hdr.Iov = &s.iovs[first]
			h.hdr.SetIovlen(iov - first)
		}
		if len(m.OOB) > 0 {
			h.hdr.Control = &m.OOB[0]
			h.hdr.SetControllen(len(m.OOB))
		}
		a, ok := m.Addr.(*net.UDPAddr)
		if !ok || a == nil {
			return errAddr
		}
		if v6 {
			sa := &s.sa6[i]
			*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6}
			copy(sa.Addr[:], a.IP.To16())
			putPort(&sa.Port, a.Port)
			h.hdr.Name = (*byte)(unsafe.Pointer(sa))
			h.hdr.Namelen = unix.SizeofSockaddrInet6
		} else {
			ip4 := a.IP.To4()
			if ip4 == nil {
				return errAddr
			}
			sa := &s.sa4[i]
			*sa = unix.RawSockaddrInet4{Family: unix.AF_INET}
			copy(sa.Addr[:], ip4)
			putPort(&sa.Port, a.Port)
			h.hdr.Name = (*byte)(unsafe.Pointer(sa))
			h.hdr.Namelen = unix.SizeofSockaddrInet4
		}
	}
	return nil
}

// putPort stores port in network byte order in a sockaddr's port field.
func putPort(p *uint16, port int) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

// grow returns s with length n, reusing its memory when it is enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/2)
	}
	return s[:n]
}
