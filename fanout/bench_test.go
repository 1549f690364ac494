package fanout

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/pion/rtp"
)

// discard is the cheapest Writer: the benchmark then measures the fan-out
// itself (queueing, the hand-off to each subscriber's goroutine, counting).
type discard struct{}

func (discard) WritePacket(*Packet) error { return nil }

// BenchmarkTrackWrite reports ns per packet per subscriber for the hot path:
// Track.Write with N subscribers, each draining its own queue. A real source
// is paced by its publisher, so the writer here waits (every 512 packets)
// while the slowest subscriber is more than half a queue behind: a packet
// dropped for an overrun queue would skip the subscriber's work and flatter
// the figure. The timer stops only once every subscriber has written or
// dropped every packet; drop-% says how many were lost (0 when the hub
// keeps up). allocs/op counts allocations per packet fanned out to all
// subscribers.
func BenchmarkTrackWrite(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			tr := NewTrack(TrackParams{ID: "v", Kind: KindVideo, Codec: Codec{MimeType: "video/H264", ClockRate: 90000}, QueueLen: 4096})
			defer tr.Close()
			subs := make([]*Subscriber, n)
			for i := range subs {
				s, err := tr.Subscribe(discard{})
				if err != nil {
					b.Fatal(err)
				}
				subs[i] = s
			}
			pkts := make([]Packet, 4096)
			for i := range pkts {
				pkts[i] = Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: make([]byte, 1200)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			const queueLen = 4096
			for i := 0; i < b.N; i++ {
				p := &pkts[i%len(pkts)]
				p.Header.SequenceNumber = uint16(i)
				p.Header.Timestamp = uint32(i / 10 * 3000)
				tr.Write(p)
				if i%512 == 511 {
					for _, s := range subs {
						for uint64(i+1)-s.stats.Packets.Load()-s.stats.Dropped.Load() > queueLen/2 {
							runtime.Gosched()
						}
					}
				}
			}
			var dropped uint64
			for _, s := range subs {
				for s.stats.Packets.Load()+s.stats.Dropped.Load() < uint64(b.N) {
					runtime.Gosched()
				}
				dropped += s.stats.Dropped.Load()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/pkt/sub")
			b.ReportMetric(100*float64(dropped)/float64(b.N)/float64(n), "drop-%")
		})
	}
}
