// Package netlimit bounds what TCP clients can hold of a listener: a cap
// on open connections (refused at once past it), and an idle deadline.
package netlimit

import (
	"net"
	"sync"
	"syscall"
	"time"
)

// CapListener refuses connections past Max at once (it closes them rather
// than letting them queue): 20,000 idle connections cannot take the
// process to its file-descriptor limit and starve HTTP, WHIP and WHEP.
type CapListener struct {
	net.Listener
	Max int

	mu   sync.Mutex
	open int
}

func (l *CapListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.open >= l.Max {
			l.mu.Unlock()
			_ = c.Close()
			continue
		}
		l.open++
		l.mu.Unlock()
		return &countedConn{Conn: c, l: l}, nil
	}
}

// countedConn gives its place back when closed.
type countedConn struct {
	net.Conn
	l    *CapListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// IdleConn ends a connection that sends nothing for Idle: the handshake
// of a client that never completes it, a publisher gone silent. Each read
// renews the deadline (a live publisher sends audio every 20 ms).
type IdleConn struct {
	net.Conn
	Idle time.Duration
}

func (c *IdleConn) Read(b []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.Idle))
	return c.Conn.Read(b)
}

// DescriptorShare is frac of the process's file-descriptor limit
// (RLIMIT_NOFILE, which the Go runtime raises to the hard limit at start),
// and at least floor: a cap for a listener that must leave descriptors for
// everything else (media sockets, NATS, gossip, recordings).
func DescriptorShare(frac float64, floor int) int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 { // unlimited, in effect
		return max(floor, 65536)
	}
	return max(floor, int(float64(r.Cur)*frac))
}
