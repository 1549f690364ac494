package egress

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/codec"
)

// A simulcast source's viewer gets one layer at a time on one SSRC. To
// change layers the leg subscribes to the new one as well, which asks the
// publisher for a keyframe of it; the old layer goes on until that
// keyframe comes, and from it on the new layer's packets go out, numbered
// on from the old ones (fanout.Continuity), so the viewer sees one
// continuous stream and never a delta frame of a layer it has no keyframe
// of (from its start, too: it waits for its first layer's keyframe). Then
// the old subscription ends. A leg whose estimate holds no layer pauses
// its video, and resumes at a keyframe (choose.go says when); a leg below
// the top layer pads to find whether its link holds more (probe.go).

// layers is a simulcast leg's state. The subscriptions' goroutines (the
// current layer's and, during a switch, the next one's) take turns under
// mu.
type layers struct {
	group  fanout.Group
	pinned bool      // the viewer chose the layer (?layer=): never switched
	est    *estimate // the bandwidth estimate, which REMBs feed (remb.go); nil: follow the top layer
	ch     chooser
	bound  bound // on GCC's estimate (bound.go)

	mu      sync.Mutex
	rw      fanout.Continuity
	next    *fanout.Track      // a layer being switched to, until its keyframe
	nextSub *fanout.Subscriber // its subscription
	started bool               // a keyframe has gone out: the viewer can decode
	paused  bool               // below the lowest layer: no video goes out
	resume  bool               // resuming the layer it paused on, from its next keyframe
	asked   time.Time          // when next's keyframe was last asked for
	checked time.Time          // when the best layer was last looked at
	closed  bool
	padRate int       // bit/s of padding to send (probe.go)
	padAt   time.Time // when padding was last reckoned
	padOwed float64   // bytes of padding owed

	sent, octets atomic.Uint64 // across layers, for sender reports
	wire         uint64        // bytes sent on the wire, padding and repairs too (bound.go)
}

// followEvery is how often an automatic leg looks for a better layer.
const followEvery = 500 * time.Millisecond

// NewLayered makes a leg for a group of simulcast layers: pinned to the
// layer rid if it is not "", else following the group's best layer.
func NewLayered(g fanout.Group, rid string, p Params) *Leg {
	ls := &layers{group: g, pinned: rid != "", ch: newChooser(), bound: newBound()}
	if p.Bandwidth != nil {
		ls.est = &estimate{gcc: p.Bandwidth}
	}
	start := ls.best(g.Top(), time.Now())
	if rid != "" {
		start = g.Layer(rid)
	}
	if start == nil {
		// Not even the lowest layer fits the first estimate: start
		// paused on it, to resume as choose.go says.
		ls.paused, start = true, g.Layers[0]
		for _, t := range g.Layers {
			if t.Bitrate() < start.Bitrate() {
				start = t
			}
		}
	}
	ls.rw = fanout.Continuity{ClockRate: start.Codec().ClockRate}
	l := New(start, p)
	l.id = g.ID
	l.layers = ls
	return l
}

// best is the layer an automatic leg on cur should be on, nil to pause
// its video: by its bandwidth estimate when it has one, else the top
// layer.
func (l *layers) best(cur *fanout.Track, now time.Time) *fanout.Track {
	if l.est == nil {
		l.padRate = 0
		return l.group.Top()
	}
	rates := make([]uint64, len(l.group.Layers))
	at := paused
	for i, t := range l.group.Layers {
		rates[i] = t.Bitrate()
		if t == cur && !l.paused {
			at = i
		}
	}
	i := l.ch.choose(rates, at, l.estimate(now), now)
	l.padRate = 0
	if i == at && i != paused {
		l.padRate = max(0, l.ch.padTo-int(rates[i]))
	}
	if i == paused {
		return nil
	}
	return l.group.Layers[i]
}

// estimate is the leg's estimate at now: the viewer's REMB while fresh,
// else GCC's within its bound (bound.go).
func (l *layers) estimate(now time.Time) int {
	if remb, ok := l.est.fresh(); ok {
		return remb
	}
	return l.bound.apply(l.est.gcc.GetTargetBitrate(), l.wire, now)
}

// Layered reports whether the leg carries a simulcast source's layers.
func (t *Leg) Layered() bool { return t.layers != nil }

// Layer is the RID of the layer the leg carries now ("" for a source
// without layers).
func (t *Leg) Layer() string { return t.source().Layer() }

// layerWriter is the fanout.Writer of one layer's subscription.
type layerWriter struct {
	t   *Leg
	src *fanout.Track
}

func (w layerWriter) WritePacket(p *fanout.Packet) error { return w.t.deliverLayer(p, w.src) }

// deliverLayer writes p, from layer src, if src is the layer the viewer
// gets: the current one, or the next one from its first keyframe on.
func (t *Leg) deliverLayer(p *fanout.Packet, src *fanout.Track) error {
	l := t.layers
	var retire *fanout.Subscriber
	l.mu.Lock()
	now := time.Now()
	key := codec.IsKeyframe(src.Codec().MimeType, p.Payload)
	if src == l.next && key {
		t.mu.Lock()
		retire, t.sub = t.sub, l.nextSub
		t.mu.Unlock()
		t.cur.Store(src)
		l.next, l.nextSub = nil, nil
		l.paused, l.resume = false, false // a new layer: a new epoch by its SSRC
	}
	if l.resume && src == t.source() && key {
		// Back on the layer it paused on: what was dropped meanwhile
		// leaves no hole in the numbering.
		l.resume = false
		l.rw.MarkNewSource()
	}
	// The layer is looked at on any layer's packets: a paused leg sends
	// none, and must still find when to resume.
	var dropped *fanout.Subscriber
	if !l.pinned && !l.closed && now.Sub(l.checked) >= followEvery {
		l.checked = now
		dropped = l.follow(t, now)
	}
	defer func() {
		if dropped != nil {
			dropped.Close() // its goroutine may wait for mu: after the unlock
		}
	}()
	if src != t.source() || l.closed || (!l.started && !key) || l.paused || l.resume {
		if !l.started && src == t.source() && now.Sub(l.asked) >= followEvery/2 {
			l.asked = now // the subscription's request, or a keyframe pion dropped before DTLS was up
			src.RequestKeyframe()
		}
		l.mu.Unlock()
		return nil // the old layer after a switch, the next before its keyframe, or delta frames before the first
	}
	h := fanout.HeaderFields{SSRC: p.Header.SSRC, Seq: p.Header.SequenceNumber, TS: p.Header.Timestamp}
	l.rw.Rewrite(&h, now)
	t.hdr = p.Header
	t.hdr.SSRC, t.hdr.PayloadType, t.hdr.SequenceNumber, t.hdr.Timestamp = t.ssrc, t.pt, h.Seq, h.TS
	n, err := t.ws.WriteRTP(&t.hdr, p.Payload)
	if n > 0 {
		l.sent.Add(1)
		l.octets.Add(uint64(len(p.Payload)))
		l.wire += uint64(n)
		l.started = true // pion drops packets before DTLS is up: only now has a keyframe gone out
		if p.Header.Marker && !l.pinned {
			t.pad(now)
		}
	}
	t.lastTS.Store(h.TS)
	t.lastAt.Store(p.Received)
	l.mu.Unlock()
	if retire != nil {
		retire.Close() // its goroutine may wait for mu: after the unlock
	}
	return err
}

// follow starts a switch to the layer the leg should be on, pauses or
// resumes its video, gives up a switch that is no longer wanted (its
// subscription is returned, to be closed outside mu), and asks again for
// the keyframe a switch or a resume waits for. Under mu.
func (l *layers) follow(t *Leg, now time.Time) (retire *fanout.Subscriber) {
	best := l.best(t.source(), now)
	if l.next != nil && best != l.next {
		retire, l.next, l.nextSub = l.nextSub, nil, nil
	}
	if best == nil {
		l.paused, l.resume = true, false
		return retire
	}
	if l.paused && best == t.source() {
		l.paused, l.resume, l.asked = false, true, now
		best.RequestKeyframe()
		return retire
	}
	if l.next != nil || l.resume {
		if now.Sub(l.asked) >= 2*followEvery {
			l.asked = now
			if l.next != nil {
				l.next.RequestKeyframe()
			} else {
				t.source().RequestKeyframe()
			}
		}
		return retire
	}
	if best == t.source() {
		return retire
	}
	sub, err := t.subscribe(best, layerWriter{t, best}) // asks for its keyframe
	if err != nil {
		return retire
	}
	l.next, l.nextSub, l.asked = best, sub, now
	return retire
}

// close ends a switch under way; the current subscription is the leg's.
func (l *layers) close() {
	l.mu.Lock()
	l.closed = true
	sub := l.nextSub
	l.next, l.nextSub = nil, nil
	l.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
}

// resend answers a NACK of a simulcast leg: the sequence numbers it sent
// map back to the current layer's (those sent before the last switch are
// gone with their layer), and the copy goes out as it was numbered.
func (l *layers) resend(t *Leg, n *rtcp.TransportLayerNack) {
	now := time.Now()
	for _, pair := range n.Nacks {
		for _, seq := range pair.PacketList() {
			l.mu.Lock()
			src := t.source() // the layer the current epoch's numbers map to
			stats := src.Stats()
			orig, ok := l.rw.Source(seq)
			var p *fanout.Packet
			if ok {
				p = src.Lookup(orig)
			}
			if p == nil {
				l.mu.Unlock()
				stats.NACKsMissed.Add(1)
				continue
			}
			if !t.rs.allow(seq, len(p.Payload)+12, src.Bitrate(), now) {
				l.mu.Unlock()
				stats.NACKsRefused.Add(1)
				continue
			}
			h := fanout.HeaderFields{SSRC: p.Header.SSRC, Seq: p.Header.SequenceNumber, TS: p.Header.Timestamp}
			l.rw.Forward(&h)
			hdr := p.Header
			hdr.SSRC, hdr.PayloadType, hdr.SequenceNumber, hdr.Timestamp = t.ssrc, t.pt, seq, h.TS
			n, err := t.ws.WriteRTP(&hdr, p.Payload)
			l.wire += uint64(n)
			l.mu.Unlock()
			if err == nil {
				stats.NACKsServed.Add(1)
				l.sent.Add(1)
				l.octets.Add(uint64(len(p.Payload)))
			}
		}
	}
}

// Pin fixes the leg on layer rid (a viewer's choice, the WHEP layer
// extension): it switches there at the layer's next keyframe and stays.
// An unknown rid is an error naming the layers.
func (t *Leg) Pin(rid string) error {
	l := t.layers
	if l == nil {
		return errors.New("this stream has no simulcast layers")
	}
	to := l.group.Layer(rid)
	if to == nil {
		var have []string
		for _, x := range l.group.Layers {
			have = append(have, x.Layer())
		}
		return fmt.Errorf("this stream has no layer %q; its layers are %s", rid, strings.Join(have, ", "))
	}
	var retire *fanout.Subscriber
	l.mu.Lock()
	if l.paused && to == t.source() {
		l.resume, l.asked = true, time.Now() // back from a pause: at its next keyframe
		to.RequestKeyframe()
	}
	l.pinned, l.paused, l.padRate = true, false, 0
	if l.next != nil && l.next != to {
		retire, l.next, l.nextSub = l.nextSub, nil, nil
	}
	if to != t.source() && l.next == nil && !l.closed {
		if sub, err := t.subscribe(to, layerWriter{t, to}); err == nil { // asks for its keyframe
			l.next, l.nextSub, l.asked = to, sub, time.Now()
		}
	}
	l.mu.Unlock()
	if retire != nil {
		retire.Close()
	}
	return nil
}

// Unpin lets the leg's layer follow its bandwidth again (or the top layer
// without an estimate).
func (t *Leg) Unpin() {
	if l := t.layers; l != nil {
		l.mu.Lock()
		l.pinned, l.checked = false, time.Time{}
		l.mu.Unlock()
	}
}
