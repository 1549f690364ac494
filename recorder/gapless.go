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
// Only padding that comes in order closes its gap: one that comes after
// media numbered above it would shift the numbers of packets already
// handed on, and the next packet would take an earlier one's number (the
// reorder buffer would then silently lose that one and build a broken
// frame). It is dropped and its gap left, which the reorder buffer treats
// as a loss: the track waits for a keyframe (the recorder asks for one).
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
	inOrder := !g.started || u > g.newest
	if inOrder {
		g.newest, g.started = u, true
	}
	if padding && !inOrder {
		return 0, false // late padding: its gap stays (see above)
	}
	for len(g.removed) > 0 && g.removed[0] < g.newest-window {
		g.removed, g.before = g.removed[1:], g.before+1
	}
	if padding {
		g.removed = append(g.removed, u) // the newest: the list stays sorted
		return 0, false
	}
	i := sort.Search(len(g.removed), func(i int) bool { return g.removed[i] >= u })
	return uint16(u - g.before - int64(i)), true
}

// ring is u's place in seen (u may be below 0: a packet reordered before
// the first one).
func ring(u int64) int64 { return (u%seenRing + seenRing) % seenRing }
