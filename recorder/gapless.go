package recorder

import "sort"

// gapless takes padding-only packets out of a track before its reorder
// buffer, and renumbers the others to close the gaps they leave. Chromium
// probes bandwidth with padding-only packets on the video's own SSRC (no
// RTX is negotiated; RFC 3550 §5.1 padding), often a dozen or more after a
// frame. pion's sample builder counts each as a dropped packet, so every
// frame after them looked like one after a loss and waited for a keyframe
// (which, with nobody watching, a browser never sends), and bursts of them
// made it drop whole frames; a recording then held its first frames only.
//
// A padding packet reordered behind media that came after it is numbered
// as if it had come in order, so those frames' numbers may overlap by one:
// the reorder buffer then sees a loss, as it should for a disordered
// stream, and the track waits for a keyframe (the recorder asks for one).
//
// Duplicates and packets too late for the reorder buffer are taken out
// too: a publisher without RTX resends a NACKed packet on its own SSRC, and
// when the first copy was only late, pion's sample builder took the second
// for the start of a new run and built old frames again (recordings of
// browsers on a busy machine went back in time every few frames).
type gapless struct {
	started bool
	newest  int64           // unwrapped sequence number of the newest packet seen
	removed []int64         // unwrapped numbers of the padding taken out, ascending, within window
	before  int64           // padding taken out before the window
	seen    [seenRing]int64 // unwrapped numbers seen, by their remainder; +1, so 0 is none
}

// seenRing is how many recent sequence numbers are remembered for finding
// duplicates: more than the reorder buffer holds.
const seenRing = 1024

// window is how far back removed padding is remembered: past it, a packet
// is too late for the reorder buffer anyway.
const window = 4096

// renumber returns the sequence number seq becomes, or media false for a
// packet taken out: padding only, a copy, or too late.
func (g *gapless) renumber(seq uint16, padding bool) (uint16, bool) {
	u := int64(seq)
	if g.started {
		u = g.newest + int64(int16(seq-uint16(g.newest)))
	}
	if g.started && (u <= g.newest-seenRing/2 || g.seen[ring(u)] == u+1) {
		return 0, false // too late for the reorder buffer, or a copy
	}
	g.seen[ring(u)] = u + 1
	if !g.started || u > g.newest {
		g.newest, g.started = u, true
	}
	for len(g.removed) > 0 && g.removed[0] < g.newest-window {
		g.removed, g.before = g.removed[1:], g.before+1
	}
	i := sort.Search(len(g.removed), func(i int) bool { return g.removed[i] >= u })
	if padding {
		if i == len(g.removed) || g.removed[i] != u { // not a duplicate
			g.removed = append(g.removed, 0)
			copy(g.removed[i+1:], g.removed[i:])
			g.removed[i] = u
		}
		return 0, false
	}
	return uint16(u - g.before - int64(i)), true
}

// ring is u's place in seen (u may be below 0: a packet reordered before
// the first one).
func ring(u int64) int64 { return (u%seenRing + seenRing) % seenRing }
