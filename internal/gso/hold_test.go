package gso

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// wrapped is a Batcher's socket and a plain receiver on loopback.
func wrapped(t *testing.T, gso bool) (*Batcher, *PacketConn, *net.UDPConn) {
	t.Helper()
	c, rx := pair(t, gso)
	b := NewBatcher(gso, nil)
	return b, b.Wrap(c.UDPConn), rx
}

// receive reads want datagrams and checks each byte for byte.
func receive(t *testing.T, rx *net.UDPConn, want [][]byte) {
	t.Helper()
	buf := make([]byte, 70000)
	for i, w := range want {
		_ = rx.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, len(want), err)
		}
		if !bytes.Equal(buf[:n], w) {
			t.Fatalf("datagram %d: got %d bytes starting %q, want %d starting %q", i, n, buf[:min(n, 4)], len(w), w[:4])
		}
	}
}

// nothingYet checks that rx has nothing to read.
func nothingYet(t *testing.T, rx *net.UDPConn) {
	t.Helper()
	_ = rx.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := rx.Read(make([]byte, 2000)); err == nil {
		t.Fatalf("a %d-byte datagram went out while its address was held", n)
	}
}

// What is written to a held address waits for Release and then goes out
// in one GSO send, in order; an address nobody holds is written at once.
func TestHeldWritesGoOutAsOneBurst(t *testing.T) {
	b, pc, rx := wrapped(t, true)
	to := rx.LocalAddr().(*net.UDPAddr)
	h := b.Hold(to.AddrPort())
	var want [][]byte
	for i, s := range []int{1100, 1100, 1100, 1100, 640} {
		want = append(want, datagram(i, s))
		var err error
		if i%2 == 0 {
			_, err = pc.WriteTo(want[i], to) // pion's net.Addr path
		} else {
			_, err = pc.WriteToAddrPort(want[i], to.AddrPort()) // and its allocation-free one
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	nothingYet(t, rx)
	h.Release()
	receive(t, rx, want)
	if g := pc.GSOSends.Load(); g != 1 || b.Bursts.Load() != 1 || b.Datagrams.Load() != 5 {
		t.Fatalf("%d GSO sends, %d bursts of %d datagrams; want 1, 1, 5", g, b.Bursts.Load(), b.Datagrams.Load())
	}
	// Released: the next write goes at once.
	if _, err := pc.WriteTo(datagram(9, 300), to); err != nil {
		t.Fatal(err)
	}
	receive(t, rx, [][]byte{datagram(9, 300)})
	if b.Bursts.Load() != 1 {
		t.Fatal("a write after Release was held")
	}
}

// A hold carries no more than one GSO send can: the 65th datagram sends
// the first 64; a nested hold of the same address sends at the last
// Release; writes from other goroutines join the burst; nothing is lost.
func TestHoldLimitsNestingAndConcurrentWriters(t *testing.T) {
	b, pc, rx := wrapped(t, true)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	mapped := netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port())
	outer := b.Hold(to)
	inner := b.Hold(mapped) // the same address, as pion may spell it
	var want [][]byte
	for i := range 70 {
		want = append(want, datagram(i, 200))
		if _, err := pc.WriteToAddrPort(want[i], to); err != nil {
			t.Fatal(err)
		}
	}
	if b.Bursts.Load() != 1 {
		t.Fatalf("%d bursts after 70 held datagrams, want the first 64 sent", b.Bursts.Load())
	}
	inner.Release()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			_, _ = pc.WriteToAddrPort(datagram(100+g, 120), mapped)
		})
	}
	wg.Wait()
	outer.Release()
	receive(t, rx, want)
	got := map[byte]bool{}
	buf := make([]byte, 2000)
	for range 4 {
		_ = rx.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := rx.Read(buf)
		if err != nil || n != 120 {
			t.Fatalf("a concurrent writer's datagram: %d bytes, %v", n, err)
		}
		got[buf[n-1]] = true
	}
	if len(got) != 4 || b.Bursts.Load() != 2 || b.Datagrams.Load() != 74 {
		t.Fatalf("%d distinct concurrent datagrams, %d bursts of %d; want 4, 2, 74", len(got), b.Bursts.Load(), b.Datagrams.Load())
	}
}

// Without GSO a hold still sends its burst with one sendmmsg.
func TestHoldWithoutGSO(t *testing.T) {
	b, pc, rx := wrapped(t, false)
	to := rx.LocalAddr().(*net.UDPAddr)
	h := b.Hold(to.AddrPort())
	want := [][]byte{datagram(0, 1200), datagram(1, 1200), datagram(2, 33)}
	for _, w := range want {
		if _, err := pc.WriteToUDP(w, to); err != nil {
			t.Fatal(err)
		}
	}
	h.Release()
	receive(t, rx, want)
	if pc.GSOSends.Load() != 0 || pc.BatchSends.Load() != 1 {
		t.Fatalf("%d GSO sends and %d sendmmsg calls, want 0 and 1", pc.GSOSends.Load(), pc.BatchSends.Load())
	}
}

// A socket whose GSO send fails says so once, and the held datagrams
// still arrive.
func TestHoldFallbackIsReported(t *testing.T) {
	c, rx := pair(t, true)
	var reported []error
	b := NewBatcher(true, func(err error) { reported = append(reported, err) })
	pc := b.Wrap(c.UDPConn)
	pc.batch = refuseGSO{pc.batch, net.ErrClosed}
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	for round := range 2 {
		h := b.Hold(to)
		for i := range 3 {
			_, _ = pc.WriteToAddrPort(datagram(round*3+i, 900), to)
		}
		h.Release()
		receive(t, rx, [][]byte{datagram(round*3, 900), datagram(round*3+1, 900), datagram(round*3+2, 900)})
	}
	if len(reported) != 1 || pc.GSO() {
		t.Fatalf("%d fallbacks reported, GSO still %v; want 1 and off", len(reported), pc.GSO())
	}
}
