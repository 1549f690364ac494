package gso

import (
	"errors"
	"net"
	"testing"
)

// outboxPeers is a sender socket and n receivers on loopback.
func outboxPeers(t *testing.T, n int) (*Conn, []*net.UDPConn) {
	t.Helper()
	c, rx := pair(t, true)
	peers := []*net.UDPConn{rx}
	for range n - 1 {
		r, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		peers = append(peers, r)
	}
	return c, peers
}

// takeEach gives o a burst of sizes for each peer, numbered from the
// peer's index times 100, and returns what each should receive.
func takeEach(o *Outbox, c *Conn, peers []*net.UDPConn, sizes []int) [][][]byte {
	want := make([][][]byte, len(peers))
	b := &Burst{}
	for p, rx := range peers {
		b.To = rx.LocalAddr().(*net.UDPAddr).AddrPort()
		for i, s := range sizes {
			d := datagram(p*100+i, s)
			b.Add(d)
			want[p] = append(want[p], d)
		}
		b = o.Take(c, b)
		if b.Len() != 0 {
			panic("Take gave back a burst that is not empty")
		}
	}
	return want
}

// The bursts of several peers, each a frame and an audio packet, go out
// in one sendmmsg at Flush, each peer's datagrams in order; nothing goes
// before Flush; a second turn reuses the bursts.
func TestOutboxSendsManyPeersInOneCall(t *testing.T) {
	c, peers := outboxPeers(t, 5)
	b := NewBatcher(true, nil)
	o := b.Outbox()
	for turn := range 2 {
		want := takeEach(o, c, peers, []int{1200, 1200, 1200, 700, 160})
		if turn == 0 {
			nothingYet(t, peers[0])
		}
		calls := c.BatchSends.Load()
		o.Flush()
		for p, rx := range peers {
			receive(t, rx, want[p])
		}
		if got := c.BatchSends.Load() - calls; got != 1 {
			t.Fatalf("turn %d: %d sendmmsg calls for 5 peers, want 1", turn, got)
		}
		if o.Pending() != 0 {
			t.Fatalf("turn %d: %d bursts left after Flush", turn, o.Pending())
		}
	}
	if g := c.GSOSends.Load(); g != 10 {
		t.Fatalf("%d GSO messages, want one a peer a turn (10)", g)
	}
	if b.Bursts.Load() != 10 || b.Datagrams.Load() != 50 {
		t.Fatalf("counted %d bursts of %d datagrams, want 10 of 50", b.Bursts.Load(), b.Datagrams.Load())
	}
}

// A GSO message refused in the middle of a turn (after the first peer's
// went) is sent again as its datagrams, the later peers' too, nothing
// lost and nothing twice; GSO is off for the socket afterwards.
func TestOutboxFailedGSOLosesNothing(t *testing.T) {
	c, peers := outboxPeers(t, 3)
	o := NewBatcher(true, nil).Outbox()
	// The first peer's burst is one datagram (no GSO): it goes in the
	// first call, the second peer's GSO message fails the next.
	want := [][][]byte{nil, nil, nil}
	b := &Burst{To: peers[0].LocalAddr().(*net.UDPAddr).AddrPort()}
	b.Add(datagram(0, 500))
	want[0] = [][]byte{datagram(0, 500)}
	o.Take(c, b)
	rest := takeEach(o, c, peers[1:], []int{1000, 1000, 400})
	want[1], want[2] = rest[0], rest[1]
	c.batch = refuseGSO{c.batch, errors.New("EIO: the device cannot segment")}
	o.Flush()
	for p, rx := range peers {
		receive(t, rx, want[p])
		nothingYet(t, rx)
	}
	if c.GSO() || c.Fallbacks.Load() != 1 {
		t.Fatalf("after a refused GSO message: GSO %v, %d fallbacks; want off and 1", c.GSO(), c.Fallbacks.Load())
	}
}
