// Package shaper is a UDP relay for tests that need a constrained link on
// loopback: a viewer talks to the relay's address instead of the server's,
// and what the server sends the viewer passes a token bucket filter like
// Linux's tbf (a rate, and a queue that holds at most Latency of it: past
// that, packets are dropped). The rate can change while it runs. One
// viewer per Shaper.
package shaper

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Shaper relays between one client and Server, shaping Server → client
// (and dropping client → server what DropUp says).
type Shaper struct {
	Server  *net.UDPAddr
	Latency time.Duration // queue bound in time at the rate

	front, back *net.UDPConn // client side; server side
	rate        atomic.Int64 // bit/s; 0 for none
	client      atomic.Pointer[net.UDPAddr]
	dropUp      atomic.Pointer[func([]byte) bool]
	Dropped     atomic.Int64

	mu     sync.Mutex
	queue  [][]byte
	queued int // bytes
	wake   chan struct{}
	wg     sync.WaitGroup
	closed chan struct{}
}

// New relays to server on loopback, shaping at rate bit/s.
func New(server *net.UDPAddr, rate int64, latency time.Duration) (*Shaper, error) {
	front, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	back, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		front.Close()
		return nil, err
	}
	s := &Shaper{Server: server, Latency: latency, front: front, back: back, wake: make(chan struct{}, 1), closed: make(chan struct{})}
	s.rate.Store(rate)
	s.wg.Add(3)
	go s.up()
	go s.down()
	go s.drain()
	return s, nil
}

// Addr is where the client sends.
func (s *Shaper) Addr() *net.UDPAddr { return s.front.LocalAddr().(*net.UDPAddr) }

// DropUp makes the shaper drop the client → server datagrams drop says
// to (a lossy uplink); nil drops none.
func (s *Shaper) DropUp(drop func(datagram []byte) bool) {
	if drop == nil {
		s.dropUp.Store(nil)
		return
	}
	s.dropUp.Store(&drop)
}

// SetRate changes the rate (bit/s; 0 lifts the limit).
func (s *Shaper) SetRate(bps int64) { s.rate.Store(bps) }

// Rewrite points an SDP's candidates at the server's address to the
// shaper instead.
func (s *Shaper) Rewrite(sdp string) string {
	from := s.Server.IP.String() + " " + strconv.Itoa(s.Server.Port) + " typ"
	to := s.Addr().IP.String() + " " + strconv.Itoa(s.Addr().Port) + " typ"
	return strings.ReplaceAll(sdp, from, to)
}

// HideClient takes the candidates out of the client's offer: the server
// then reaches the client only through the shaper, at the address the
// client's checks come from (a peer-reflexive candidate, RFC 8445 §7.3.1.3),
// and not directly at the client's own.
func HideClient(sdp string) string {
	return DropLines(sdp, func(l string) bool { return strings.HasPrefix(l, "a=candidate:") })
}

// DropLines takes the lines drop says out of an SDP (a test that makes an
// offer look like another client's).
func DropLines(sdp string, drop func(line string) bool) string {
	var out []string
	for _, l := range strings.Split(sdp, "\r\n") {
		if !drop(l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\r\n")
}

// up forwards client → server, unshaped.
func (s *Shaper) up() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := s.front.ReadFromUDP(buf)
		if err != nil {
			return
		}
		s.client.Store(from)
		if drop := s.dropUp.Load(); drop != nil && (*drop)(buf[:n]) {
			continue
		}
		_, _ = s.back.WriteToUDP(buf[:n], s.Server)
	}
}

// down queues server → client packets within the queue's bound.
func (s *Shaper) down() {
	defer s.wg.Done()
	for {
		buf := make([]byte, 2048)
		n, _, err := s.back.ReadFromUDP(buf)
		if err != nil {
			return
		}
		rate := s.rate.Load()
		s.mu.Lock()
		limit := int(rate / 8 * int64(s.Latency) / int64(time.Second))
		if rate > 0 && s.queued+n > max(limit, 1500) {
			s.mu.Unlock()
			s.Dropped.Add(1)
			continue
		}
		s.queue = append(s.queue, buf[:n])
		s.queued += n
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// drain sends the queue to the client at the rate.
func (s *Shaper) drain() {
	defer s.wg.Done()
	next := time.Now()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.closed:
				return
			}
		}
		p := s.queue[0]
		s.queue = s.queue[1:]
		s.queued -= len(p)
		s.mu.Unlock()
		if rate := s.rate.Load(); rate > 0 {
			if now := time.Now(); next.Before(now) {
				next = now
			}
			next = next.Add(time.Duration(int64(len(p)) * 8 * int64(time.Second) / rate))
			if d := time.Until(next); d > time.Millisecond {
				select {
				case <-time.After(d):
				case <-s.closed:
					return
				}
			}
		}
		if c := s.client.Load(); c != nil {
			_, _ = s.front.WriteToUDP(p, c)
		}
	}
}

// Close stops the relay and waits for its goroutines.
func (s *Shaper) Close() {
	close(s.closed)
	s.front.Close()
	s.back.Close()
	s.wg.Wait()
}
