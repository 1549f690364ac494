package recorder

import "github.com/pion/rtp"

// frameEnds finds video frames that never ended. A sender marks the last
// packet of each frame (RFC 3550 §5.1; the marker of RFC 6184 §5.1, RFC
// 7741 §4.1, RFC 9628 for VP9), and every packet of a frame
// carries its timestamp. Chromium, publishing VP9 on a busy CPU, has been
// seen to send the first packet of a frame (B set, E and the marker not)
// and then, with the next sequence number, a keyframe at a new timestamp:
// the frame before never ends. pion's sample builder looks for a frame's
// end before it compares timestamps, so it glued the keyframe onto the
// broken frame's start; the keyframe was lost inside a sample no decoder
// could read, and the two seconds of frames after it, which refer to it,
// were undecodable too (1 recording in about 25 under load).
//
// When a packet and the next one by sequence number have different
// timestamps and the first is not marked, the first ends a frame cut
// short: it is marked, so the sample builder closes the frame there, and
// the frame's timestamp is remembered so that the frame is dropped as a
// loss. Sources that never mark frame ends are left alone.
type frameEnds struct {
	marks bool // the source marks its frames' ends
	ring  [endsRing]*rtp.Packet
	cut   []uint32 // timestamps of frames cut short, oldest first
}

// endsRing holds as many packets as the reorder buffer waits for: a
// neighbour further away has left the buffer (built or given up) anyway.
const endsRing = maxLate

// cutKept is how many cut frames are remembered: each is forgotten when its
// sample pops, so a few cover any burst.
const cutKept = 8

// add notes p (numbered as the reorder buffer sees it), before it is
// pushed to the reorder buffer.
func (f *frameEnds) add(p *rtp.Packet) {
	f.marks = f.marks || p.Marker
	f.ring[p.SequenceNumber%endsRing] = p
	if !f.marks {
		return
	}
	if q := f.at(p.SequenceNumber - 1); q != nil && !q.Marker && q.Timestamp != p.Timestamp {
		f.end(q)
	}
	if q := f.at(p.SequenceNumber + 1); q != nil && !p.Marker && q.Timestamp != p.Timestamp {
		f.end(p)
	}
}

func (f *frameEnds) at(seq uint16) *rtp.Packet {
	if q := f.ring[seq%endsRing]; q != nil && q.SequenceNumber == seq {
		return q
	}
	return nil
}

func (f *frameEnds) end(q *rtp.Packet) {
	q.Marker = true
	if len(f.cut) == cutKept {
		f.cut = append(f.cut[:0], f.cut[1:]...)
	}
	f.cut = append(f.cut, q.Timestamp)
}

// wasCut reports whether the frame at ts was cut short, and forgets it.
func (f *frameEnds) wasCut(ts uint32) bool {
	for i, c := range f.cut {
		if c == ts {
			f.cut = append(f.cut[:i], f.cut[i+1:]...)
			return true
		}
	}
	return false
}
