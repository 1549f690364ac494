package gso

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
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
// packets are, goes out in one GSO send and arrives as its datagrams.
func TestABurstGoesOutInOneGSOSend(t *testing.T) {
	c, rx := pair(t, true)
	if !c.GSO() {
		t.Fatal("UDP_SEGMENT is not supported on this loopback socket (Linux 4.18+ has it)")
	}
	sendAndReceive(t, c, rx, []int{1200, 1200, 1200, 1200, 1200, 1200, 1200, 700})
	if g, m := c.GSOSends.Load(), c.BatchSends.Load(); g != 1 || m != 0 {
		t.Fatalf("%d GSO sends and %d sendmmsg calls, want 1 and 0", g, m)
	}
}

// Mixed sizes split into runs: each run of two or more goes with GSO,
// single datagrams with sendmmsg, all in order; a run stops at 64
// segments.
func TestMixedSizesFallBackInOrder(t *testing.T) {
	c, rx := pair(t, true)
	sizes := []int{1200, 1200, 500, 300, 1200, 80, 1200, 1200, 1200, 1300}
	for range 70 {
		sizes = append(sizes, 100)
	}
	sendAndReceive(t, c, rx, sizes)
	// Runs: [1200 1200 500] [300] [1200 80] [1200 1200 1200] [1300 100]
	// [100 ×64] [100 ×5]: six with GSO, the 300 alone with sendmmsg.
	if g, m := c.GSOSends.Load(), c.BatchSends.Load(); g != 6 || m != 1 {
		t.Fatalf("%d GSO sends and %d sendmmsg calls, want 6 and 1", g, m)
	}
}

// A GSO send that fails is sent again without GSO, nothing lost, and GSO
// stays off for the socket afterwards.
func TestAFailedGSOSendLosesNothing(t *testing.T) {
	c, rx := pair(t, true)
	c.sendGSO = func(*Conn, *Burst, []byte, int) error { return errors.New("EIO: the device cannot segment") }
	sendAndReceive(t, c, rx, []int{1000, 1000, 1000, 400})
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
