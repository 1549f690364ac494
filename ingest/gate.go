package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/auth"
	"github.com/relaymesh/relaymesh/internal/errs"
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
}

// GateParams configures a Gate.
type GateParams struct {
	Registry *fanout.Registry
	// Authorize, if set, decides whether a may publish, before anything is
	// read or reserved; its errors are ErrUnauthorized or ErrForbidden.
	Authorize func(ctx context.Context, a Access) error
	// Claim, if set, reserves the name in the cluster; its errors are
	// ErrClaimed or ErrUnavailable.
	Claim func(ctx context.Context, stream string) error
}

// Gate is the one decision every publisher passes, whatever its protocol:
// the name, the credentials, the cluster's claim, then the local registry.
// Safe for concurrent use.
type Gate struct{ p GateParams }

// NewGate makes the gate.
func NewGate(p GateParams) *Gate { return &Gate{p: p} }

// Check decides what can be decided before a request's body is read: the
// name and the credentials. It reserves nothing.
func (g *Gate) Check(ctx context.Context, a Access) error {
	if err := fanout.CheckName(a.Stream); err != nil {
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
	return g.Publish(ctx, a.Stream)
}

// Publish claims the name and publishes it locally, for a caller that has
// already passed Check (a WHIP POST, checked before its body was read).
func (g *Gate) Publish(ctx context.Context, stream string) (*fanout.Publication, error) {
	if g.p.Claim != nil {
		if err := g.p.Claim(ctx, stream); err != nil {
			return nil, err
		}
	}
	pub, err := g.p.Registry.Publish(stream)
	if errors.Is(err, fanout.ErrStreamBusy) {
		return nil, errs.Errorf(ErrBusy, "stream %q is already being published; stop that publisher or pick another name", stream)
	}
	if err != nil {
		return nil, errs.Errorf(ErrUnavailable, "this node is shutting down")
	}
	return pub, nil
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
