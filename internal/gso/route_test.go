package gso

import (
	"net"
	"testing"
)

// A watched address learns the socket it is heard on, from reads, among
// several (a node on an unspecified address has one per interface); an
// address nobody watches is not recorded; a seed does not override what
// was heard; the last Close forgets the address.
func TestRouteLearnsTheSocketAPeerIsHeardOn(t *testing.T) {
	b := NewBatcher(true, nil)
	var socks []*PacketConn
	for range 2 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		socks = append(socks, b.Wrap(c))
	}
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	from := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	hear := func(s *PacketConn) {
		t.Helper()
		if _, err := peer.WriteTo([]byte("stun"), s.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ReadFromAddrPort(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}

	hear(socks[0]) // before anyone watches: not kept
	r := b.Watch(from)
	if r.Conn() != nil {
		t.Fatal("a route knew a socket before its address was heard after the watch")
	}
	r.Seed(socks[0].Conn)
	hear(socks[1])
	if r.Conn() != socks[1].Conn {
		t.Fatal("the route did not learn the socket its address was heard on")
	}
	r.Seed(socks[0].Conn)
	if r.Conn() != socks[1].Conn {
		t.Fatal("a seed replaced the socket the address was heard on")
	}
	r2 := b.Watch(from)
	if r2 != r {
		t.Fatal("two watches of one address made two routes")
	}
	r.Close()
	hear(socks[0])
	if r2.Conn() != socks[0].Conn {
		t.Fatal("the route stopped learning while a watch was open")
	}
	r2.Close()
	if len(b.routes) != 0 || b.watched.Load() != 0 {
		t.Fatalf("%d routes left after the last Close", len(b.routes))
	}
}

// With one socket there is nothing to learn: a route knows it at once.
func TestRouteOfOneSocket(t *testing.T) {
	b, pc, rx := wrapped(t, true)
	r := b.Watch(rx.LocalAddr().(*net.UDPAddr).AddrPort())
	defer r.Close()
	if r.Conn() != pc.Conn {
		t.Fatal("the one socket's route did not name it")
	}
}
