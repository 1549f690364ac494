package webrtchttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"
)

// CreateFunc starts a session for stream from the client's offer and returns
// its answer and peer. Its errors go through the endpoint's MapError.
type CreateFunc func(ctx context.Context, r *http.Request, stream, offer string, parsed *sdp.SessionDescription) (answer string, p *Peer, err error)

// Endpoint serves one kind of session resource: POST {Prefix}{stream}
// creates a session at {Prefix}{stream}/{id}, which PATCH and DELETE address.
type Endpoint struct {
	Prefix string // "/whip/" or "/whep/"
	// Admit, if set, decides on a POST before its body is read (the stream
	// name, the credentials), and on a session's PATCH and DELETE: a
	// refused client costs no parsing and cannot touch others' sessions.
	Admit  func(r *http.Request, stream string) error
	Create CreateFunc
	// MapError turns Admit's and Create's errors into what the client is
	// told; nil, or a nil answer, means a 500 (logged). An *Error passes as
	// it is.
	MapError   func(error) *Error
	Log        *slog.Logger
	ICEServers []string // "stun:host:port" URLs advertised in Link headers
	// Place, if set, is asked after Admit where a POST is best served: a
	// URL elsewhere is answered 307 with it as Location (WHEP's load
	// balancing; the client re-sends its offer there), "" serves it here,
	// and an error goes through MapError (no room anywhere: 503).
	Place func(r *http.Request, stream string) (string, error)
	// SessionBase, if set, is put before a new session's path in Location
	// ("" leaves it relative). A redirected viewer's session is named by
	// the absolute URL of the node it landed on: players that resolve
	// Location against the URL they first posted to (not the redirect's)
	// still reach the session's own node.
	SessionBase func(r *http.Request) string
	// Ready, if set, is asked before each POST; false gives 503 (draining).
	Ready func() bool
	// AnswerTimeout bounds the creation of one session.
	AnswerTimeout time.Duration
	// Remote, if set, forwards PATCH and DELETE for sessions owned by
	// other nodes, and answers theirs for sessions owned here.
	Remote Remote

	mu       sync.Mutex
	sessions map[string]*resource
	count    atomic.Int64
}

type resource struct {
	stream string
	peer   *Peer
}

// Register adds the endpoint's routes to mux.
func (e *Endpoint) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+e.Prefix+"{stream}", e.post)
	mux.HandleFunc("PATCH "+e.Prefix+"{stream}/{id}", e.patch)
	mux.HandleFunc("DELETE "+e.Prefix+"{stream}/{id}", e.delete)
	mux.HandleFunc("OPTIONS "+e.Prefix+"{stream}", e.options)
	mux.HandleFunc("OPTIONS "+e.Prefix+"{stream}/{id}", e.options)
	mux.HandleFunc("POST "+e.Prefix+"{stream}/{id}/{ext}", e.extension)
	mux.HandleFunc("DELETE "+e.Prefix+"{stream}/{id}/{ext}", e.extension)
	mux.HandleFunc("OPTIONS "+e.Prefix+"{stream}/{id}/{ext}", e.options)
	// GET would otherwise fall through to the web UI's "GET /"; other
	// methods get the mux's own 405.
	mux.HandleFunc("GET "+e.Prefix+"{stream}", notAllowed("POST, OPTIONS"))
	mux.HandleFunc("GET "+e.Prefix+"{stream}/{id}", notAllowed("PATCH, DELETE, OPTIONS"))
}

func notAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		WriteError(w, Errorf(http.StatusMethodNotAllowed, "%s is not allowed here; use %s", r.Method, allow))
	}
}

// Sessions is the number of live sessions.
func (e *Endpoint) Sessions() int { return int(e.count.Load()) }

// SessionsByStream counts the live sessions of each stream.
func (e *Endpoint) SessionsByStream() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for _, r := range e.sessions {
		out[r.stream]++
	}
	return out
}

func (e *Endpoint) options(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Accept-Post", "application/sdp")
	e.linkHeaders(w)
	w.WriteHeader(http.StatusNoContent)
}

func (e *Endpoint) linkHeaders(w http.ResponseWriter) {
	for _, u := range e.ICEServers {
		w.Header().Add("Link", "<"+u+`>; rel="ice-server"`)
	}
}

func (e *Endpoint) post(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if e.Admit != nil {
		if err := e.Admit(r, stream); err != nil {
			e.writeError(w, stream, err)
			return
		}
	}
	if e.Place != nil {
		to, err := e.Place(r, stream)
		if err != nil {
			e.writeError(w, stream, err)
			return
		}
		if to != "" {
			w.Header().Set("Location", to)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
	}
	if e.Ready != nil && !e.Ready() {
		WriteError(w, &Error{Status: http.StatusServiceUnavailable, Message: "this node is draining; try another node", RetryAfter: 5 * time.Second})
		return
	}
	offer, parsed, herr := ReadOffer(r)
	if herr != nil {
		WriteError(w, herr)
		return
	}
	timeout := e.AnswerTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	answer, peer, err := e.Create(ctx, r, stream, offer, parsed)
	if err != nil {
		e.writeError(w, stream, err)
		return
	}
	id := NewID()
	e.mu.Lock()
	if e.sessions == nil {
		e.sessions = map[string]*resource{}
	}
	e.sessions[id] = &resource{stream: stream, peer: peer}
	e.mu.Unlock()
	e.count.Add(1)
	unannounce := e.serveRemote(stream, id)
	peer.OnClose(func() {
		unannounce()
		e.mu.Lock()
		delete(e.sessions, id)
		e.mu.Unlock()
		e.count.Add(-1)
	})

	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	loc := e.Prefix + stream + "/" + id
	if e.SessionBase != nil {
		loc = e.SessionBase(r) + loc
	}
	h.Set("Location", loc)
	h.Set("ETag", peer.ETag())
	h.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	e.linkHeaders(w)
	extensionLinks(w, loc, peer)
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(answer))
}

func (e *Endpoint) lookup(w http.ResponseWriter, r *http.Request) *resource {
	e.mu.Lock()
	res := e.sessions[r.PathValue("id")]
	e.mu.Unlock()
	if res == nil || res.stream != r.PathValue("stream") {
		if e.forward(w, r) {
			return nil
		}
		WriteError(w, Errorf(http.StatusNotFound, "no session %s for stream %q on this node (ended, or never created)", r.PathValue("id"), r.PathValue("stream")))
		return nil
	}
	return res
}

// admitted runs Admit for a session's PATCH or DELETE.
func (e *Endpoint) admitted(w http.ResponseWriter, r *http.Request) bool {
	if e.Admit == nil {
		return true
	}
	if err := e.Admit(r, r.PathValue("stream")); err != nil {
		e.writeError(w, r.PathValue("stream"), err)
		return false
	}
	return true
}

func (e *Endpoint) patch(w http.ResponseWriter, r *http.Request) {
	if !e.admitted(w, r) {
		return
	}
	res := e.lookup(w, r)
	if res == nil {
		return
	}
	body, herr := ReadBody(r, "application/trickle-ice-sdpfrag")
	if herr != nil {
		WriteError(w, herr)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	status, frag, etag, err := res.peer.Patch(ctx, body, r.Header.Get("If-Match"))
	if err != nil {
		WriteError(w, err)
		return
	}
	w.Header().Set("ETag", etag)
	if frag != "" {
		w.Header().Set("Content-Type", "application/trickle-ice-sdpfrag")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(frag))
}

func (e *Endpoint) delete(w http.ResponseWriter, r *http.Request) {
	if !e.admitted(w, r) {
		return
	}
	res := e.lookup(w, r)
	if res == nil {
		return
	}
	res.peer.Close()
	w.WriteHeader(http.StatusOK)
}

// CloseAll ends every session (shutdown).
func (e *Endpoint) CloseAll() {
	e.mu.Lock()
	peers := make([]*Peer, 0, len(e.sessions))
	for _, res := range e.sessions {
		peers = append(peers, res.peer)
	}
	e.mu.Unlock()
	for _, p := range peers {
		p.Close()
	}
}

// writeError answers with what MapError makes of err; what it cannot place
// is the server's fault, logged here and answered 500.
func (e *Endpoint) writeError(w http.ResponseWriter, stream string, err error) {
	var he *Error
	if !errors.As(err, &he) && e.MapError != nil {
		he = e.MapError(err)
	}
	if he == nil {
		e.Log.Error("session setup failed", "stream", stream, "err", err)
		WriteError(w, err)
		return
	}
	WriteError(w, he)
}
