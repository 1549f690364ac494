// Package webrtchttp holds the HTTP conventions WHIP (RFC 9725) and WHEP
// share: reading and checking an SDP offer, the session resource (Location,
// ETag, PATCH for trickle ICE and ICE restart, DELETE), CORS, and errors
// that tell a client what it did wrong.
package webrtchttp

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is an HTTP error with a sentence meant for the person at the client.
type Error struct {
	Status     int
	Message    string
	RetryAfter time.Duration // sent as Retry-After when non-zero (503)
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

// Errorf makes an *Error.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// WriteError answers with err's status and sentence. Errors that are not an
// *Error are the server's fault: 500 without details.
func WriteError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Message: "internal error; the server log has details"}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.5)))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="relaymesh"`)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	fmt.Fprintln(w, e.Message)
}

// Token is the credential an HTTP request carries: the Bearer token of its
// Authorization header (RFC 6750 §2.1), else its ?token= query parameter
// (§2.3, for players that cannot set headers: a <video> element, a plain
// WHEP URL); "" when it carries none.
func Token(r *http.Request) string {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(tok)
	}
	return r.URL.Query().Get("token")
}
