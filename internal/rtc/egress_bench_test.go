package rtc

import (
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"

	"github.com/relaymesh/relaymesh/internal/gso"
)

// A frame of eight 1,200-byte RTP packets through a viewer's Egress, as
// its session writer sends it: each packet AES-GCM encrypted into the
// burst, the burst in one GSO send. It allocates nothing once warm (the
// egress path's rule). Loopback's receive half runs in the send. "gcm" is
// the node's own sealer, "pion-gcm" pion's SRTP context for the same
// profile.
func BenchmarkEgressFrame(b *testing.B) {
	for _, s := range benchSealers(b) {
		b.Run(s.name, func(b *testing.B) { benchmarkEgressFrame(b, s.s) })
	}
}

func benchmarkEgressFrame(b *testing.B, s sealer) {
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
	bt := gso.NewBatcher(true, nil)
	bt.Wrap(tx)
	e := &Egress{burst: &gso.Burst{}, b: bt, log: slog.New(slog.NewTextHandler(io.Discard, nil)), own: new(atomic.Int64), pion: new(atomic.Int64), sealer: s}
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	e.follow(&to)
	defer e.close()
	e.ready.Store(true)
	w := e.Writer(nil)
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}
	payload := make([]byte, 1200-12)
	b.ReportAllocs()
	b.SetBytes(8 * 1200)
	for b.Loop() {
		e.beginInto(nil)
		for range 8 {
			h.SequenceNumber++
			if _, err := w.WriteRTP(&h, payload); err != nil {
				b.Fatal(err)
			}
		}
		e.end()
	}
}
