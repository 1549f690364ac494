// Package auth is the one decision point of access control: every door
// (WHIP, WHEP, RTMP, RTSP publish and read, VOD, the API, metrics, pprof)
// asks Decide with the action, the stream, the credential its protocol
// carried and the client. Static tokens per action, per-stream publish keys,
// JWTs (HS256, or keys from a JWKS) and a webhook are sources behind it,
// all optional and combinable. Relays decide for their own viewers the
// same way, with no call to the origin.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Action is what a request wants to do.
type Action string

// The actions (INTERFACE.md): admin is API writes, recordings' start, stop
// and delete, and pprof; metrics is /metrics.
const (
	Publish Action = "publish"
	Read    Action = "read"
	Admin   Action = "admin"
	Metrics Action = "metrics"
)

// The answers Decide gives besides nil; each edge maps them (401 with
// WWW-Authenticate, 403, 503).
var (
	// ErrUnauthorized: no credential, or one no source recognises.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: a valid credential that does not allow this.
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable: the webhook could not be asked (down, slow): the
	// request is refused, never let through (fail closed).
	ErrUnavailable = errors.New("authorization unavailable")
)

// Request is one access as a door presents it.
type Request struct {
	Action   Action
	Protocol string // "whip", "whep", "rtmp", "rtsp", "http"
	// Stream is the stream name, "" for actions on no one stream (listing
	// recordings, the API, metrics).
	Stream string
	// Token is the credential presented: a Bearer token, ?token=, an RTMP
	// stream key's token, an RTSP password; "" for none.
	Token  string
	Client string // the client's address
	Query  string // the request's raw query, for the webhook
}

// Params configures an Authorizer. Every field is optional.
type Params struct {
	// Tokens are static credentials per action (-publish-token,
	// -read-token, -admin-token). The admin token also grants metrics.
	Tokens map[Action]string
	// StreamKeys is a file of per-stream publish keys (-stream-keys),
	// reloaded when it changes.
	StreamKeys string
	// JWTSecret verifies HS256 JWTs; JWKS is the URL of a JSON Web Key Set
	// whose keys verify RS256, ES256 and EdDSA JWTs (refreshed).
	JWTSecret, JWKS string
	// Webhook receives a JSON description of each access the other
	// sources do not allow; 2xx allows.
	Webhook        string
	WebhookTimeout time.Duration // zero: 2 s
	Log            *slog.Logger
}

// Authorizer decides. Lifecycle: New → Decide (from any goroutine) → Close,
// which stops the key-file watcher and the JWKS refresh.
type Authorizer struct {
	p       Params
	keys    *streamKeys
	jwt     *jwtVerifier
	webhook *webhook
}

// New builds the sources that are configured. It fails when one cannot
// start (an unreadable key file, a JWKS that cannot be fetched at all).
func New(p Params) (*Authorizer, error) {
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	a := &Authorizer{p: p}
	var err error
	if p.StreamKeys != "" {
		if a.keys, err = newStreamKeys(p.StreamKeys, p.Log); err != nil {
			return nil, err
		}
	}
	if p.JWTSecret != "" || p.JWKS != "" {
		if a.jwt, err = newJWTVerifier(p.JWTSecret, p.JWKS, p.Log); err != nil {
			a.Close()
			return nil, err
		}
	}
	if p.Webhook != "" {
		a.webhook = newWebhook(p.Webhook, p.WebhookTimeout, p.Log)
	}
	return a, nil
}

// Close stops the background work of the sources.
func (a *Authorizer) Close() {
	if a.keys != nil {
		a.keys.close()
	}
	if a.jwt != nil {
		a.jwt.close()
	}
}

// Enabled reports whether any credential is configured. A node without
// any is open (the laptop default).
func (a *Authorizer) Enabled() bool {
	return a != nil && (len(a.tokens()) > 0 || a.keys != nil || a.jwt != nil || a.webhook != nil)
}

func (a *Authorizer) tokens() map[Action]string {
	out := map[Action]string{}
	for k, v := range a.p.Tokens {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// Guarded reports whether action needs a credential: some source can grant
// it, or it is admin or metrics on a node where any credential is
// configured (nothing destructive is ever open on a node whose operator
// asked for auth). An action no source guards stays open: a node with only
// -publish-token lets anyone watch.
func (a *Authorizer) Guarded(action Action) bool {
	if !a.Enabled() {
		return false
	}
	switch {
	case action == Admin || action == Metrics:
		return true
	case a.jwt != nil || a.webhook != nil:
		return true
	case action == Publish && a.keys != nil:
		return true
	}
	return a.tokens()[action] != ""
}

// Decide allows r (nil) or says why not (ErrUnauthorized, ErrForbidden,
// ErrUnavailable, each wrapped in a sentence for the client). It never
// reads a request body: doors call it first.
func (a *Authorizer) Decide(ctx context.Context, r Request) error {
	if !a.Guarded(r.Action) {
		return nil
	}
	recognised := false // a source knew the credential but did not allow r
	if r.Token != "" {
		if ok, known := a.static(r); ok {
			return nil
		} else if known {
			recognised = true
		}
		if a.keys != nil && r.Action == Publish {
			if ok, known := a.keys.allows(r.Stream, r.Token); ok {
				return nil
			} else if known {
				recognised = true
			}
		}
		if a.jwt != nil && looksLikeJWT(r.Token) {
			err := a.jwt.allows(r)
			if err == nil {
				return nil
			}
			if !errors.Is(err, ErrForbidden) {
				return err // invalid, expired, not yet valid: a sentence says which
			}
			recognised = true
		}
	}
	if a.webhook != nil {
		return a.webhook.decide(ctx, r)
	}
	if recognised {
		return forbidden(r)
	}
	return unauthorized(r)
}
