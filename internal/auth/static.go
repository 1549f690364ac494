package auth

import (
	"crypto/subtle"

	"github.com/relaymesh/relaymesh/internal/errs"
)

// static checks the per-action tokens: ok when the token grants r's action
// (the admin token grants metrics too), known when it is one of the
// node's tokens but for another action.
func (a *Authorizer) static(r Request) (ok, known bool) {
	for action, tok := range a.tokens() {
		if subtle.ConstantTimeCompare([]byte(r.Token), []byte(tok)) != 1 {
			continue
		}
		if action == r.Action || (action == Admin && r.Action == Metrics) {
			return true, true
		}
		known = true
	}
	return false, known
}

// unauthorized says what is missing and where the protocol carries it
// (RFC 6750 §3.1: a missing and an invalid token get the same answer).
func unauthorized(r Request) error {
	what := "a credential"
	if r.Token != "" {
		what = "a valid credential (the one given is not known)"
	}
	return errs.Errorf(ErrUnauthorized, "%s on stream %q needs %s: %s", r.Action, r.Stream, what, carrier(r.Protocol))
}

func forbidden(r Request) error {
	if r.Stream == "" {
		return errs.Errorf(ErrForbidden, "the credential given does not allow %s", r.Action)
	}
	return errs.Errorf(ErrForbidden, "the credential given does not allow %s on stream %q", r.Action, r.Stream)
}

// carrier says where a protocol's clients put their credential.
func carrier(protocol string) string {
	switch protocol {
	case "rtmp":
		return "add it to the stream key as NAME?token=TOKEN"
	case "rtsp":
		return "add ?token= to the URL, or give it as the password"
	}
	return "send Authorization: Bearer <token>, or add ?token= to the URL"
}
