package node

import (
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/fanout/whep"
	"github.com/relaymesh/relaymesh/ingest"
	"github.com/relaymesh/relaymesh/ingest/upstream"
	"github.com/relaymesh/relaymesh/internal/auth"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
)

// errAtCapacity: the node holds -max-sessions sessions.
var errAtCapacity = errors.New("at capacity")

// statuses is the one table from the domain's errors to HTTP (INTERFACE.md,
// Errors): 4xx for what the client can change, 503 with Retry-After for
// what passes, 502 for a parent that failed.
var statuses = []struct {
	err    error
	status int
	retry  time.Duration
}{
	{fanout.ErrBadName, http.StatusBadRequest, 0},
	{ingest.ErrBadPriority, http.StatusBadRequest, 0},
	{ingest.ErrNoMedia, http.StatusBadRequest, 0},
	{ingest.ErrCodec, http.StatusBadRequest, 0},
	{whep.ErrOffer, http.StatusBadRequest, 0},
	{auth.ErrUnauthorized, http.StatusUnauthorized, 0},
	{auth.ErrForbidden, http.StatusForbidden, 0},
	{auth.ErrUnavailable, http.StatusServiceUnavailable, 2 * time.Second},
	{whep.ErrNotFound, http.StatusNotFound, 0},
	{upstream.ErrNotPublished, http.StatusNotFound, 0},
	{ingest.ErrClaimed, http.StatusConflict, 0},
	{ingest.ErrBusy, http.StatusConflict, 0},
	{upstream.ErrLoop, http.StatusLoopDetected, 0},
	{upstream.ErrParent, http.StatusBadGateway, 0},
	{whep.ErrNotReady, http.StatusServiceUnavailable, time.Second},
	{upstream.ErrNoParent, http.StatusServiceUnavailable, time.Second},
	{upstream.ErrChildrenFull, http.StatusServiceUnavailable, time.Second},
	{ingest.ErrUnavailable, http.StatusServiceUnavailable, 2 * time.Second},
	{upstream.ErrDirectory, http.StatusServiceUnavailable, 2 * time.Second},
	{upstream.ErrClosing, http.StatusServiceUnavailable, 5 * time.Second},
	{errAtCapacity, http.StatusServiceUnavailable, 10 * time.Second},
	{errRateLimited, http.StatusServiceUnavailable, retryAfterRate},
}

// httpError is the HTTP answer to a domain error, its sentence as the body;
// nil for an error that is the server's own (a 500, logged by the caller).
func httpError(err error) *webrtchttp.Error {
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			return &webrtchttp.Error{Status: s.status, Message: err.Error(), RetryAfter: s.retry}
		}
	}
	return nil
}

// writeError answers an API request with err mapped by httpError.
func writeError(w http.ResponseWriter, err error) {
	if he := httpError(err); he != nil {
		err = he
	}
	webrtchttp.WriteError(w, err)
}

// listenError says which flag to change when a socket cannot be opened
// because its address is taken (a second node on one machine with the
// default ports).
func listenError(err error, flag, addr string) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s is already in use (another relaymesh on this machine?): give this node another address with %s, or stop the other process: %w", addr, flag, err)
	}
	return err
}
