package fanout

import (
	"fmt"
	"testing"

	"github.com/pion/rtp"
)

// discard is the cheapest Writer: the benchmark then measures the fan-out
// itself (queueing, the hand-off to each subscriber's goroutine, counting).
type discard struct{}

func (discard) WritePacket(*Packet) error { return nil }

// BenchmarkTrackWrite reports ns per packet per subscriber for the hot path:
// Track.Write with N subscribers, each draining its own queue. allocs/op
// counts allocations per packet fanned out to all subscribers.
func BenchmarkTrackWrite(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			tr := NewTrack(TrackParams{ID: "v", Kind: KindVideo, Codec: Codec{MimeType: "video/H264", ClockRate: 90000}, QueueLen: 4096})
			defer tr.Close()
			for i := 0; i < n; i++ {
				if _, err := tr.Subscribe(discard{}); err != nil {
					b.Fatal(err)
				}
			}
			pkts := make([]Packet, 4096)
			for i := range pkts {
				pkts[i] = Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: make([]byte, 1200)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := &pkts[i%len(pkts)]
				p.Header.SequenceNumber = uint16(i)
				p.Header.Timestamp = uint32(i / 10 * 3000)
				tr.Write(p)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/pkt/sub")
		})
	}
}
