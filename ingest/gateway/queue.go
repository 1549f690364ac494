package gateway

import (
	"context"
	"fmt"

	"github.com/pion/rtp"
)

// indexed is a packet of the feed's track i.
type indexed struct {
	i   int
	pkt *rtp.Packet
}

// queue is what feeds whose packets come from a reader goroutine share:
// the packets, handed over a channel, and how the source ended.
type queue struct {
	pkts chan indexed
	done chan struct{} // closed when the source has ended
	err  error         // why; set before done is closed
}

func newQueue() queue { return queue{pkts: make(chan indexed, 1024), done: make(chan struct{})} }

// Next blocks for the next packet, the source's end, or ctx's.
func (q *queue) Next(ctx context.Context) (int, *rtp.Packet, error) {
	select {
	case p := <-q.pkts:
		return p.i, p.pkt, nil
	case <-q.done:
		return 0, nil, fmt.Errorf("the source ended: %w", q.err)
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
}
