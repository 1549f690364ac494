package fanout

import "sync/atomic"

// cacheSize is the number of packets kept per track for retransmission. At
// 2 Mbit/s (about 200 video packets/s) it is about 5 s, well over the round
// trip in which a NACK is useful; a power of two keeps the index a mask.
const cacheSize = 1024

// packetCache keeps the last cacheSize packets of one track, indexed by
// sequence number, shared by all of the track's subscribers: one copy per
// track, not per viewer. The writer is the track's read loop; readers are the
// subscribers' RTCP goroutines. Slots are atomic pointers, so neither side
// takes a lock and a reader sees either the old or the new packet, both
// immutable.
type packetCache struct {
	slots [cacheSize]atomic.Pointer[Packet]
}

func (c *packetCache) put(p *Packet) {
	c.slots[p.Header.SequenceNumber&(cacheSize-1)].Store(p)
}

// get returns the cached packet with sequence number seq, or nil when it was
// never received or has been overwritten.
func (c *packetCache) get(seq uint16) *Packet {
	p := c.slots[seq&(cacheSize-1)].Load()
	if p == nil || p.Header.SequenceNumber != seq {
		return nil
	}
	return p
}
