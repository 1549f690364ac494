package config

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimited is a slog.Handler that lets at most burst lines of one kind
// through, then one a perKind interval, so garbage on a port cannot fill a
// disk or bury the real errors (random bytes on every listener once wrote
// about 15,000 ERROR lines). A kind is the level, the message with its
// digits taken out (addresses and ports vary), and the stream and remote
// attributes. The next line of a kind let through says how many were left
// out before it.
type rateLimited struct {
	next  slog.Handler
	state *rateState
	attrs []slog.Attr // added by WithAttrs, for the kind
}

type rateState struct {
	mu    sync.Mutex
	kinds map[string]*kindState
	every time.Duration
	burst int
}

type kindState struct {
	lim        *rate.Limiter
	suppressed int
}

// maxKinds bounds the kinds remembered; past it they start afresh.
const maxKinds = 4096

// RateLimit wraps h: per kind, burst lines, then one every every.
func RateLimit(h slog.Handler, burst int, every time.Duration) slog.Handler {
	return &rateLimited{next: h, state: &rateState{kinds: map[string]*kindState{}, every: every, burst: burst}}
}

func (r *rateLimited) Enabled(ctx context.Context, l slog.Level) bool { return r.next.Enabled(ctx, l) }

func (r *rateLimited) WithAttrs(as []slog.Attr) slog.Handler {
	return &rateLimited{next: r.next.WithAttrs(as), state: r.state, attrs: append(append([]slog.Attr(nil), r.attrs...), as...)}
}

func (r *rateLimited) WithGroup(name string) slog.Handler {
	return &rateLimited{next: r.next.WithGroup(name), state: r.state, attrs: r.attrs}
}

func (r *rateLimited) Handle(ctx context.Context, rec slog.Record) error {
	key := r.kind(rec)
	s := r.state
	s.mu.Lock()
	k := s.kinds[key]
	if k == nil {
		if len(s.kinds) >= maxKinds {
			s.kinds = map[string]*kindState{}
		}
		k = &kindState{lim: rate.NewLimiter(rate.Every(s.every), s.burst)}
		s.kinds[key] = k
	}
	if !k.lim.AllowN(rec.Time, 1) {
		k.suppressed++
		s.mu.Unlock()
		return nil
	}
	left := k.suppressed
	k.suppressed = 0
	s.mu.Unlock()
	if left > 0 {
		rec = rec.Clone()
		rec.AddAttrs(slog.Int("suppressed_before", left))
	}
	return r.next.Handle(ctx, rec)
}

// kind is what makes two lines "the same" for the limit.
func (r *rateLimited) kind(rec slog.Record) string {
	var b strings.Builder
	b.WriteString(rec.Level.String())
	b.WriteByte('|')
	for _, c := range rec.Message {
		if c < '0' || c > '9' {
			b.WriteRune(c)
		}
	}
	add := func(a slog.Attr) bool {
		if a.Key == "stream" || a.Key == "remote" || a.Key == "pion" || a.Key == "via" {
			b.WriteString("|" + a.Key + "=" + a.Value.String())
		}
		return true
	}
	for _, a := range r.attrs {
		add(a)
	}
	rec.Attrs(add)
	return b.String()
}
