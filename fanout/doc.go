// Package fanout is the hub every node is built around: one producer per
// Track, any number of Subscribers, and the per-track services that must be
// shared rather than repeated per subscriber (the retransmission cache,
// keyframe-request coalescing, sequence and timestamp continuity).
//
// The packet path is fixed: a source's read loop (one goroutine per track)
// calls Track.Write; Write walks a copy-on-write subscriber slice and offers
// the packet to each subscriber's bounded queue without blocking; each
// subscriber's own goroutine drains its queue into its Writer. A slow
// subscriber loses packets and counts them; it never stalls the others.
//
// A Packet is allocated by the source per read and is read-only once it has
// been passed to Track.Write: subscribers that need other header values (SSRC,
// payload type) copy the header, never the packet.
//
// fanout imports no HTTP, no NATS and no WebRTC; those live in the packages
// that feed it (ingest) and drain it (fanout/egress, fanout/whep, recorder).
package fanout
