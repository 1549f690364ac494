package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/auth"
)

// The ways a publish is refused. The gate's errors read as a sentence for
// the publisher and are one of these under errors.Is; each protocol's edge
// maps them to its status codes (HTTP, RTSP) or to a log line (RTMP).
var (
	// ErrUnauthorized: no credentials, or ones that are not valid (the
	// access-control decision's own sentinel).
	ErrUnauthorized = auth.ErrUnauthorized
	// ErrForbidden: valid credentials that do not allow this.
	ErrForbidden = auth.ErrForbidden
	// ErrClaimed: the name is being published on another origin.
	ErrClaimed = errors.New("stream name claimed elsewhere")
	// ErrBusy: the name is being published on this node.
	ErrBusy = errors.New("stream already published here")
	// ErrUnavailable: the node cannot decide now (the cluster's directory
	// is unreachable, the node is shutting down); retry shortly.
	ErrUnavailable = errors.New("unavailable")
	// ErrBadPriority: a ?priority= that is not a whole number.
	ErrBadPriority = errors.New("bad priority")
)

// Access is one request to publish, as any protocol presents it.
type Access struct {
	Protocol string // "whip", "rtmp", "rtsp"
	Stream   string
	// Token is the credential presented (a Bearer token, a stream key's
	// ?token=, an RTSP password), "" when none was.
	Token  string
	Client string // the client's address, for logs and decisions
	Query  string // the request's raw query (for an auth webhook)
	// Priority ranks publishers of one stream, read from Query
	// (?priority=N, default 0): the highest alive is live, the others are
	// warm backups.
	Priority int
}

// GateParams configures a Gate.
type GateParams struct {
	Registry *fanout.Registry
	// Authorize, if set, decides whether a may publish, before anything is
	// read or reserved; its errors are ErrUnauthorized or ErrForbidden.
	Authorize func(ctx context.Context, a Access) error
	// Claim, if set, reserves the name in the cluster for a publisher of
	// priority; live is false when another origin publishes it at a higher
	// priority (this publisher is then its backup). Its errors are
	// ErrClaimed (the same priority elsewhere) or ErrUnavailable.
	Claim func(ctx context.Context, stream string, priority int) (live bool, err error)
	// Handover, if set, is told that the live publisher here has ended;
	// next is the priority of the best backup here (ok false: none). It
	// says whether that backup takes over here (false: a better one is on
	// another origin, which the cluster hands the stream to).
	Handover func(stream string, next int, ok bool) bool
	// Publishers, if set, is told the best priority of the stream's
	// publishers here after each change (ok false: none is left).
	Publishers func(stream string, best int, ok bool)
}

// Gate is the one decision every publisher passes, whatever its protocol:
// the name, the credentials, the cluster's claim, then the local registry.
// Safe for concurrent use.
type Gate struct {
	p GateParams

	mu      sync.Mutex
	streams map[string]*publishers
}

// NewGate makes the gate.
func NewGate(p GateParams) *Gate { return &Gate{p: p, streams: map[string]*publishers{}} }

// Check decides what can be decided before a request's body is read: the
// name and the credentials. It reserves nothing.
func (g *Gate) Check(ctx context.Context, a Access) error {
	if err := fanout.CheckName(a.Stream); err != nil {
		return err
	}
	if _, err := ParsePriority(a.Query); err != nil {
		return err
	}
	if g.p.Authorize != nil {
		return g.p.Authorize(ctx, a)
	}
	return nil
}

// Admit passes a through the whole gate and returns the publication the
// source feeds; End it when the publisher leaves.
func (g *Gate) Admit(ctx context.Context, a Access) (*fanout.Publication, error) {
	if err := g.Check(ctx, a); err != nil {
		return nil, err
	}
	return g.Publish(ctx, a)
}

// TrackIDs numbers a source's tracks by kind ("video", "audio", "video1",
// ...), the same on every node and for every protocol, so a stream keeps its
// tracks, and its viewers, when its publisher reconnects by another protocol
// and a relay's tracks match its origin's.
type TrackIDs map[fanout.Kind]int

// Next is the id of the next track of kind.
func (c TrackIDs) Next(kind fanout.Kind) string {
	id := kind.String()
	if n := c[kind]; n > 0 {
		id = fmt.Sprintf("%s%d", id, n)
	}
	c[kind]++
	return id
}
