package webrtchttp

import (
	"net/http"
)

// Remote lets an endpoint reach sessions that live on other nodes. Behind
// an ordinary HTTP load balancer a client's PATCH or DELETE can land on any
// node; the one that does not own the session passes it to the one that
// does, so no sticky sessions are needed.
type Remote interface {
	// Serve announces that this node owns session id of stream and
	// answers forwarded requests for it with h; stop withdraws it.
	Serve(kind, stream, id string, h http.Handler) (stop func(), err error)
	// Forward hands r (a request for session id, which this node does not
	// own) to its owner and writes the owner's answer to w. It returns
	// false, having written nothing, when no node owns the session.
	Forward(w http.ResponseWriter, r *http.Request, kind, stream, id string) bool
}

// ForwardedHeader marks a request that another node forwarded: it is
// answered here or not at all, never forwarded again.
const ForwardedHeader = "Relaymesh-Forwarded"

// kind is the endpoint's name for Remote: "whip" or "whep".
func (e *Endpoint) kind() string { return e.Prefix[1 : len(e.Prefix)-1] }

// serveRemote registers a new session with the Remote; the returned stop
// is called when the session closes.
func (e *Endpoint) serveRemote(stream, id string) func() {
	if e.Remote == nil {
		return func() {}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.SetPathValue("stream", stream)
		r.SetPathValue("id", id)
		r.Header.Set(ForwardedHeader, "1")
		switch r.Method {
		case http.MethodPatch:
			e.patch(w, r)
		case http.MethodDelete:
			e.delete(w, r)
		default:
			w.Header().Set("Allow", "PATCH, DELETE")
			WriteError(w, Errorf(http.StatusMethodNotAllowed, "%s is not allowed on a session; use PATCH or DELETE", r.Method))
		}
	})
	stop, err := e.Remote.Serve(e.kind(), stream, id, h)
	if err != nil {
		e.Log.Warn("session not announced to the cluster: PATCH and DELETE must reach this node", "stream", stream, "err", err)
		return func() {}
	}
	return stop
}

// forward tries the session's owner elsewhere in the cluster.
func (e *Endpoint) forward(w http.ResponseWriter, r *http.Request) bool {
	if e.Remote == nil || r.Header.Get(ForwardedHeader) != "" {
		return false
	}
	return e.Remote.Forward(w, r, e.kind(), r.PathValue("stream"), r.PathValue("id"))
}
