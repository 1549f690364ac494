package ingest

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"sync"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/errs"
)

// ParsePriority reads ?priority=N from a request's raw query (a WHIP URL,
// an RTMP stream key, an RTSP URL): 0 when absent.
func ParsePriority(query string) (int, error) {
	q, err := url.ParseQuery(query)
	if err != nil || !q.Has("priority") {
		return 0, nil // an unreadable query has no priority; the name and token say the rest
	}
	n, err := strconv.Atoi(q.Get("priority"))
	if err != nil || n < -1000000 || n > 1000000 {
		return 0, errs.Errorf(ErrBadPriority, "?priority=%q is not a whole number from -1000000 to 1000000", q.Get("priority"))
	}
	return n, nil
}

// publishers are one stream's publishers on this node: at most one is
// live (feeding the stream), the others are warm backups (fanout
// standbys: their media is received, not delivered). mu is held while the
// cluster is asked, so the publishers of one stream are decided one at a
// time.
type publishers struct {
	mu   sync.Mutex
	list []*localPub
	gone bool // removed from the gate's map: start over
}

type localPub struct {
	pub      *fanout.Publication
	priority int
}

func (ps *publishers) best() (*localPub, bool) {
	if len(ps.list) == 0 {
		return nil, false
	}
	return slices.MaxFunc(ps.list, func(a, b *localPub) int { return a.priority - b.priority }), true
}

func (ps *publishers) live() bool {
	return slices.ContainsFunc(ps.list, func(l *localPub) bool { return !l.pub.Waiting() })
}

// lock returns stream's publishers, locked.
func (g *Gate) lock(stream string) *publishers {
	for {
		g.mu.Lock()
		ps := g.streams[stream]
		if ps == nil {
			ps = &publishers{}
			g.streams[stream] = ps
		}
		g.mu.Unlock()
		ps.mu.Lock()
		if !ps.gone {
			return ps
		}
		ps.mu.Unlock()
	}
}

// unlock forgets an empty stream and unlocks it.
func (g *Gate) unlock(stream string, ps *publishers) {
	if len(ps.list) == 0 {
		g.mu.Lock()
		delete(g.streams, stream)
		g.mu.Unlock()
		ps.gone = true
	}
	ps.mu.Unlock()
}

// Publish admits a publisher that has passed Check (a WHIP POST, checked
// before its body was read). The same priority as a publisher here or on
// another origin is refused (409); a higher one than every other goes
// live, at its first keyframe if a publisher here was live (make-before-
// break), and the root of the stream's tree moves to this origin; a lower
// one is a backup, which takes over when the live one ends.
func (g *Gate) Publish(ctx context.Context, a Access) (*fanout.Publication, error) {
	prio, err := ParsePriority(a.Query)
	if err != nil {
		return nil, err
	}
	a.Priority = prio
	ps := g.lock(a.Stream)
	defer g.unlock(a.Stream, ps)
	for _, l := range ps.list {
		if l.priority == a.Priority {
			return nil, errs.Errorf(ErrBusy, "stream %q is already being published here (priority %d); stop that publisher, pick another name, or publish a backup with another ?priority=", a.Stream, a.Priority)
		}
	}
	best, any := ps.best()
	live := false
	if !any || a.Priority > best.priority {
		live = true
		if g.p.Claim != nil {
			if live, err = g.p.Claim(ctx, a.Stream, a.Priority); err != nil {
				return nil, err
			}
		}
	}
	var pub *fanout.Publication
	switch {
	case live && !ps.live():
		pub, err = g.p.Registry.Publish(a.Stream)
	default:
		pub, err = g.p.Registry.Standby(a.Stream)
		if err == nil && live {
			pub.SwitchAtKeyframe() // the one live here goes on until this one's keyframe
		}
	}
	if errors.Is(err, fanout.ErrStreamBusy) {
		return nil, errs.Errorf(ErrBusy, "stream %q is already being published; stop that publisher or pick another name", a.Stream)
	}
	if err != nil {
		return nil, errs.Errorf(ErrUnavailable, "this node is shutting down")
	}
	l := &localPub{pub: pub, priority: a.Priority}
	pub.OnEnd(func(wasLive bool) { g.ended(a.Stream, l, wasLive) })
	ps.list = append(ps.list, l)
	g.told(a.Stream, ps)
	return pub, nil
}

// ended takes a publisher that has left off the list; if it was live, the
// best backup here takes over at its keyframe, unless the cluster hands
// the stream to a better one on another origin.
func (g *Gate) ended(stream string, l *localPub, wasLive bool) {
	ps := g.lock(stream)
	defer g.unlock(stream, ps)
	ps.list = slices.DeleteFunc(ps.list, func(o *localPub) bool { return o == l })
	if wasLive && !ps.live() {
		next, ok := ps.best()
		prio := 0
		if ok {
			prio = next.priority
		}
		here := ok
		if g.p.Handover != nil {
			here = g.p.Handover(stream, prio, ok)
		}
		if here && ok {
			next.pub.SwitchAtKeyframe()
		}
	}
	g.told(stream, ps)
}

// TakeOver makes the best backup here live at once: this origin has become
// the stream's root (the live origin died or handed the name over), and no
// one here watches the backup yet, so there is no reason to wait for its
// keyframe; the relays that come ask for one.
func (g *Gate) TakeOver(stream string) {
	ps := g.lock(stream)
	defer g.unlock(stream, ps)
	if best, ok := ps.best(); ok && !ps.live() {
		best.pub.Promote()
	}
}

// Best is the priority of stream's best publisher here (ok false: none).
func (g *Gate) Best(stream string) (int, bool) {
	ps := g.lock(stream)
	defer g.unlock(stream, ps)
	b, ok := ps.best()
	if !ok {
		return 0, false
	}
	return b.priority, true
}

// Streams names the streams with a publisher here, live or backup.
func (g *Gate) Streams() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.streams))
	for s := range g.streams {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func (g *Gate) told(stream string, ps *publishers) {
	if g.p.Publishers == nil {
		return
	}
	b, ok := ps.best()
	prio := 0
	if ok {
		prio = b.priority
	}
	g.p.Publishers(stream, prio, ok)
}
