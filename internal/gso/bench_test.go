package gso

import (
	"net"
	"testing"
)

// A held frame of eight SRTP-sized datagrams, as a viewer's writer sends
// it: the hold, the writes pion makes, the release's one GSO send. It
// allocates nothing once warm (the egress path's rule).
func BenchmarkHeldFrame(b *testing.B) {
	for _, gso := range []bool{true, false} {
		name := "gso"
		if !gso {
			name = "sendmmsg"
		}
		b.Run(name, func(b *testing.B) {
			rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer rx.Close()
			tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Close()
			bt := NewBatcher(gso, nil)
			pc := bt.Wrap(tx)
			to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
			pkt := make([]byte, 1200)
			b.ReportAllocs()
			b.SetBytes(8 * 1200)
			for b.Loop() {
				h := bt.Hold(to)
				for range 8 {
					_, _ = pc.WriteToAddrPort(pkt, to)
				}
				h.Release()
			}
		})
	}
}
