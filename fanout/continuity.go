package fanout

import "time"

// Continuity keeps a track's outgoing sequence numbers and timestamps
// continuous when its source changes (a publisher that reconnects gets a new
// SSRC and starts from random numbers, RFC 3550 §5.1). Within one source the
// publisher's numbering passes through unchanged (translator semantics), so
// NACKs map one to one. It is used by one goroutine at a time: a track's
// delivery, or an egress leg switching between simulcast layers.
type Continuity struct {
	ClockRate uint32
	started   bool
	newEpoch  bool
	srcSSRC   uint32
	outSSRC   uint32
	seqOffset uint16
	tsOffset  uint32
	lastSeq   uint16
	lastTS    uint32
	lastWall  time.Time
	epochSeq  uint16 // the first sequence number sent in this epoch
	pads      []pad  // this epoch's padding runs, oldest first
}

// pad is a run of n sequence numbers from `from` taken by padding-only
// packets; before is the sequence offset of the packets sent before it.
type pad struct {
	from, n, before uint16
}

// maxPads bounds the padding runs remembered for NACKs: a leg pads after
// frames, so this is seconds of probing. NACKs of packets sent before the
// oldest run kept are refused, as those of a previous epoch are.
const maxPads = 512

// Pad takes n sequence numbers after the last one sent for padding-only
// packets (RFC 3550 §5.1: they are numbered like any other) and returns the
// first. The source's later packets are numbered after them; NACKs still
// map back (Source), and a NACK of a padding packet maps to nothing.
func (r *Continuity) Pad(n uint16) uint16 {
	first := r.lastSeq + 1
	if len(r.pads) == maxPads {
		r.epochSeq = r.pads[0].from + r.pads[0].n
		r.pads = append(r.pads[:0], r.pads[1:]...)
	}
	r.pads = append(r.pads, pad{from: first, n: n, before: r.seqOffset})
	r.seqOffset += n
	r.lastSeq += n
	return first
}

// MarkNewSource makes the next packet start a new epoch even if the SSRC is
// unchanged (a publisher that reuses its SSRC after reconnecting).
func (r *Continuity) MarkNewSource() { r.newEpoch = true }

// Rewrite changes h in place so that the outgoing stream continues where the
// previous source left off: the first packet of a new epoch follows the last
// sequence number sent, and its timestamp is advanced by the wall-clock time
// that passed, so a decoder sees a pause rather than a jump.
func (r *Continuity) Rewrite(h *HeaderFields, now time.Time) {
	switch {
	case !r.started:
		// The first source: nothing to continue from. A source marked
		// before its first packet (SetSource comes first) starts no
		// second epoch at its second packet: that once split the first
		// frame across two timestamps, so every publisher's first
		// keyframe reached viewers and the recorder broken.
		r.started, r.newEpoch = true, false
		r.srcSSRC, r.outSSRC = h.SSRC, h.SSRC
		r.lastSeq, r.lastTS, r.lastWall = h.Seq-1, h.TS, now
		r.epochSeq = h.Seq
	case r.newEpoch || h.SSRC != r.srcSSRC:
		r.newEpoch = false
		r.srcSSRC = h.SSRC
		gap := now.Sub(r.lastWall)
		ticks := uint32(gap.Seconds() * float64(r.ClockRate))
		if ticks == 0 {
			ticks = 1
		}
		r.seqOffset = r.lastSeq + 1 - h.Seq
		r.tsOffset = r.lastTS + ticks - h.TS
		r.epochSeq = r.lastSeq + 1
		r.pads = r.pads[:0]
	}
	h.Seq += r.seqOffset
	h.TS += r.tsOffset
	h.SSRC = r.outSSRC
	// Track the highest sequence number and newest timestamp, allowing for
	// reordering and wrap-around (RFC 3550 appendix A.1).
	if int16(h.Seq-r.lastSeq) > 0 {
		r.lastSeq = h.Seq
	}
	if int32(h.TS-r.lastTS) > 0 {
		r.lastTS = h.TS
		r.lastWall = now
	}
}

// Forward applies the current epoch's offsets to h without changing any
// state: a retransmission of a packet already sent, whose sequence number
// is the one its NACK named (padding since may have moved the offset).
func (r *Continuity) Forward(h *HeaderFields) {
	h.Seq += r.seqOffset
	h.TS += r.tsOffset
	h.SSRC = r.outSSRC
}

// Source maps a sequence number sent back to the source's (a NACK's),
// false when it was sent before this epoch, by a source gone since.
func (r *Continuity) Source(seq uint16) (uint16, bool) {
	if !r.started || int16(seq-r.epochSeq) < 0 || int16(r.lastSeq-seq) < 0 {
		return 0, false
	}
	off := r.seqOffset
	for i := len(r.pads) - 1; i >= 0; i-- {
		p := r.pads[i]
		if int16(seq-p.from) >= 0 {
			if int16(seq-(p.from+p.n)) < 0 {
				return 0, false // a padding packet: nothing to resend
			}
			break
		}
		off = p.before
	}
	return seq - off, true
}

// HeaderFields are the three fields the Continuity changes, kept apart from
// rtp.Header so the logic can be tested on its own.
type HeaderFields struct {
	SSRC uint32
	Seq  uint16
	TS   uint32
}
