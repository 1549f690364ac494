package fanout

import (
	"slices"
	"strings"

	"github.com/relaymesh/relaymesh/internal/codec"
)

// A standby is a second source for a stream that already has one: a
// relay's new parent while the old one drains, a backup publisher. Its
// media is received into tracks of its own (inputs), and goes nowhere
// until the standby takes over, when each input feeds the stream's track of
// the same id and kind whose viewers can take its codec: then, between two packets, the stream's tracks
// stop taking the old source's packets and take the standby's, as a new
// continuity epoch, so subscribers see one stream on one SSRC. Taking over
// at a keyframe of the standby (SwitchAtKeyframe) makes the change cost
// viewers nothing: make-before-break.
type standby struct {
	waiting bool
	inputs  []*Track
	armed   bool
	live    chan struct{} // closed when the standby took over
}

// Standby makes a standby source for stream name: its Track calls make
// inputs that receive without delivering, until SwitchAtKeyframe or
// Promote. The stream is made if it does not exist.
func (r *Registry) Standby(name string) (*Publication, error) {
	s, err := r.stream(name)
	if err != nil {
		return nil, err
	}
	return &Publication{s: s, claimed: map[*Track]bool{}, standby: standby{waiting: true, live: make(chan struct{})}}, nil
}

// input makes a standby's track for params. Called with s.mu held. Which
// of the stream's tracks it feeds is settled when it takes over: the
// stream's tracks may not all exist yet (an RTMP source makes them as its
// sequence headers come).
func (p *Publication) input(params TrackParams) *Track {
	in := NewTrack(params)
	p.standby.inputs = append(p.standby.inputs, in)
	if p.standby.armed {
		p.arm(in)
	}
	return in
}

// Live is closed once the standby has taken over (at once for a
// publication that never was one).
func (p *Publication) Live() <-chan struct{} {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.standby.live == nil {
		return closedChan
	}
	return p.standby.live
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// SwitchAtKeyframe asks the standby's video for a keyframe and makes it
// take over at the first one it receives; a standby without video takes
// over at once (or, armed before its tracks exist, when it settles).
func (p *Publication) SwitchAtKeyframe() {
	s := p.s
	s.mu.Lock()
	if !p.standby.waiting || p.standby.armed {
		s.mu.Unlock()
		return
	}
	p.standby.armed = true
	video := false
	for _, in := range p.standby.inputs {
		if in.kind == KindVideo {
			video = true
			p.arm(in)
		}
	}
	now := !video && len(p.standby.inputs) > 0
	s.mu.Unlock()
	if now {
		p.Promote()
	}
}

// settleStandby is Settle for a standby: armed with all its tracks made
// and none of them video, it takes over now (no keyframe will come).
func (p *Publication) settleStandby() {
	s := p.s
	s.mu.Lock()
	now := p.standby.armed && p.standby.waiting && !slices.ContainsFunc(p.standby.inputs, func(t *Track) bool { return t.kind == KindVideo })
	s.mu.Unlock()
	if now {
		p.Promote()
	}
}

// arm makes a video input's next keyframe the moment of the switch.
func (p *Publication) arm(in *Track) {
	if in.kind != KindVideo {
		return
	}
	f := p.Promote
	in.onKey.Store(&f)
	in.RequestKeyframe()
}

// Promote makes the standby the stream's source now: the stream's tracks
// take its inputs' packets from the next one on. A track the stream did
// not have (or had with another codec) is added as the standby's own, and
// the stream's tracks the standby does not feed are closed, as when a
// publisher reconnects with other tracks. Idempotent; a standby that has
// ended does nothing.
func (p *Publication) Promote() {
	s := p.s
	s.mu.Lock()
	if !p.standby.waiting || p.ended || s.closed {
		s.mu.Unlock()
		return
	}
	p.standby.waiting, p.standby.armed = false, false
	p.claimed = map[*Track]bool{}
	tracks := make([]*Track, 0, len(p.standby.inputs))
	for _, in := range p.standby.inputs {
		in.onKey.Store(nil)
		t := in
		if slices.Contains(s.tracks, in) {
			t.feedFrom(t) // a publisher taken over before, taking over again
		} else if out := p.s.fedBy(in, p.claimed); out != nil {
			in.out.Store(out)
			out.feedFrom(in)
			t = out
		}
		p.claimed[t] = true
		tracks = append(tracks, t)
	}
	if old := s.pub; old != nil && old != p {
		old.supersede()
	}
	var stale []*Track
	for _, t := range s.tracks {
		if !p.claimed[t] {
			stale = append(stale, t)
		}
	}
	s.tracks = tracks
	s.pub = p
	if s.linger != nil {
		s.linger.Stop()
		s.linger = nil
	}
	close(p.standby.live)
	s.mu.Unlock()
	for _, t := range stale {
		t.Close() // waits for subscriber goroutines: not under s.mu
	}
	s.reg.changed()
}

// fedBy is the stream's track that the standby's input in takes over: the
// same id and kind, and a codec its viewers can take (codec.Interchangeable),
// not taken by another input. Called with s.mu held.
func (s *Stream) fedBy(in *Track, taken map[*Track]bool) *Track {
	for _, t := range s.tracks {
		if t.id == in.id && t.kind == in.kind && !taken[t] && codec.Interchangeable(t.codec, in.codec) {
			return t
		}
	}
	return nil
}

// supersede makes the live publication a standby again once another has
// taken over: its packets are dropped from then on, and it can take over
// again (SwitchAtKeyframe, Promote) if the new one ends. Called with s.mu
// held.
func (p *Publication) supersede() {
	if p.ended {
		return
	}
	if len(p.standby.inputs) == 0 {
		for t := range p.claimed {
			p.standby.inputs = append(p.standby.inputs, t)
		}
		slices.SortFunc(p.standby.inputs, func(a, b *Track) int { return strings.Compare(a.id, b.id) })
	}
	p.standby.waiting, p.standby.armed = true, false
	p.standby.live = make(chan struct{})
}

// Waiting reports whether the publication is a standby: made by Standby
// and not (yet) taken over, or taken over by another.
func (p *Publication) Waiting() bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.standby.waiting && !p.ended
}

// closeInputs ends a publication's inputs that are not the stream's own
// tracks (those close with the stream), once it has ended.
func (p *Publication) closeInputs() {
	s := p.s
	s.mu.Lock()
	var done []*Track
	for _, in := range p.standby.inputs {
		if !slices.Contains(s.tracks, in) {
			done = append(done, in)
		}
	}
	p.standby.inputs = nil
	s.mu.Unlock()
	for _, in := range done {
		in.Close()
	}
}
