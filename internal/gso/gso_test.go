package gso

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// pair is a sender Conn and a plain receiving socket on loopback.
func pair(t *testing.T, gso bool) (*Conn, *net.UDPConn) {
	t.Helper()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	return New(tx, gso), rx
}

// datagram is a payload of size bytes that says which one it is.
func datagram(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	copy(b, fmt.Sprintf("%04d", i))
	return b
}

// sendAndReceive sends datagrams of sizes in one burst and checks that rx
// gets each as a datagram of its own, in order, byte for byte.
func sendAndReceive(t *testing.T, c *Conn, rx *net.UDPConn, sizes []int) {
	t.Helper()
	b := &Burst{To: rx.LocalAddr().(*net.UDPAddr).AddrPort()}
	for i, s := range sizes {
		b.Add(datagram(i, s))
	}
	if err := c.Send(b); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Fatal("Send did not reset the burst")
	}
	buf := make([]byte, 70000)
	for i, s := range sizes {
		_ = rx.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, len(sizes), err)
		}
		if !bytes.Equal(buf[:n], datagram(i, s)) {
			t.Fatalf("datagram %d: got %d bytes starting %q, want %d starting %q", i, n, buf[:min(n, 4)], s, datagram(i, s)[:4])
		}
	}
}

// A burst of equal datagrams, the last shorter, as a video frame's SRTP
// packets are, goes out as one GSO message of one sendmmsg and arrives as
// its datagrams.
func TestABurstGoesOutInOneGSOSend(t *testing.T) {
	c, rx := pair(t, true)
	if !c.GSO() {
		t.Fatal("UDP_SEGMENT is not supported on this loopback socket (Linux 4.18+ has it)")
	}
	sendAndReceive(t, c, rx, []int{1200, 1200, 1200, 1200, 1200, 1200, 1200, 700})
	if g, m := c.GSOSends.Load(), c.BatchSends.Load(); g != 1 || m != 1 {
		t.Fatalf("%d GSO messages and %d sendmmsg calls, want 1 and 1", g, m)
	}
}

// Mixed sizes split into runs: each run of two or more is a GSO message,
// each single datagram a message of its own, all in order and in one
// sendmmsg; a run stops at 64 segments.
func TestMixedSizesFallBackInOrder(t *testing.T) {
	c, rx := pair(t, true)
	sizes := []int{1200, 1200, 500, 300, 1200, 80, 1200, 1200, 1200, 1300}
	for range 70 {
		sizes = append(sizes, 100)
	}
	sendAndReceive(t, c, rx, sizes)
	// Runs: [1200 1200 500] [300] [1200 80] [1200 1200 1200] [1300 100]
	// [100 ×64] [100 ×5]: six GSO messages and the 300 alone, one call.
	if g, m := c.GSOSends.Load(), c.BatchSends.Load(); g != 6 || m != 1 {
		t.Fatalf("%d GSO messages and %d sendmmsg calls, want 6 and 1", g, m)
	}
}

// refuseGSO is a sendmmsg that fails at the first GSO message, as
// sendmmsg(2) does: the messages before it are sent and counted, the
// call after them fails.
type refuseGSO struct {
	batchWriter
	err error
}

func (r refuseGSO) WriteBatch(ms []ipv4.Message, s *mmsgScratch) (int, error) {
	for i, m := range ms {
		if m.OOB != nil {
			if i == 0 {
				return 0, r.err
			}
			return r.batchWriter.WriteBatch(ms[:i], s)
		}
	}
	return r.batchWriter.WriteBatch(ms, s)
}

// A GSO message that fails is sent again as its datagrams, nothing lost,
// the GSO runs after it too, and GSO stays off for the socket afterwards.
func TestAFailedGSOSendLosesNothing(t *testing.T) {
	c, rx := pair(t, true)
	c.batch = refuseGSO{c.batch, errors.New("EIO: the device cannot segment")}
	sendAndReceive(t, c, rx, []int{300, 1000, 1000, 1000, 400, 200, 900, 900})
	if c.GSO() || c.Fallbacks.Load() != 1 {
		t.Fatalf("after a failed GSO send: GSO %v, %d fallbacks", c.GSO(), c.Fallbacks.Load())
	}
	sendAndReceive(t, c, rx, []int{1000, 1000})
	if c.GSOSends.Load() != 0 {
		t.Fatal("GSO was used again after it failed")
	}
}

// gso=false sends every datagram with sendmmsg.
func TestGSOOff(t *testing.T) {
	c, rx := pair(t, false)
	sendAndReceive(t, c, rx, []int{1200, 1200, 1200, 900})
	if c.GSO() || c.GSOSends.Load() != 0 || c.BatchSends.Load() != 1 {
		t.Fatalf("GSO %v, %d GSO sends, %d sendmmsg calls; want off, 0, 1", c.GSO(), c.GSOSends.Load(), c.BatchSends.Load())
	}
}

// On a dual-stack IPv6 socket, as a node listening on ":port" has, both
// paths reach an IPv4 receiver.
func TestDualStackSocket(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	c := New(tx, true)
	sendAndReceive(t, c, rx, []int{1200, 1200, 300, 77})
	if c.GSOSends.Load() != 1 || c.BatchSends.Load() != 1 {
		t.Fatalf("%d GSO sends, %d sendmmsg calls; want 1 and 1", c.GSOSends.Load(), c.BatchSends.Load())
	}
}

// An IPv6 address on an IPv4 socket is an error for the burst, not a
// crash, and the socket sends on afterwards; an IPv6 receiver on a
// dual-stack socket gets its datagrams.
func TestAddressFamilies(t *testing.T) {
	c, rx := pair(t, true)
	b := &Burst{To: netip.MustParseAddrPort("[::1]:9")}
	b.Add(datagram(0, 100))
	if err := c.Send(b); err == nil {
		t.Fatal("an IPv6 address sent from an IPv4 socket; want an error")
	}
	sendAndReceive(t, c, rx, []int{1200, 1200, 50})

	rx6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer rx6.Close()
	tx, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	sendAndReceive(t, New(tx, true), rx6, []int{1000, 1000, 1000, 20})
}

// A warm burst sends without allocating, GSO or not (the egress path's
// rule): the messages' kernel form is the burst's own scratch.
func TestSendAllocatesNothing(t *testing.T) {
	for _, gso := range []bool{true, false} {
		c, rx := pair(t, gso)
		b := &Burst{To: rx.LocalAddr().(*net.UDPAddr).AddrPort()}
		p := datagram(0, 1200)
		send := func() {
			for range 8 {
				b.Add(p)
			}
			if err := c.Send(b); err != nil {
				t.Fatal(err)
			}
		}
		send()
		if n := testing.AllocsPerRun(50, send); n != 0 {
			t.Fatalf("GSO %v: %v allocations a burst; want none", gso, n)
		}
	}
}
