package webrtchttp

import (
	"fmt"
	"net/http"
)

// A session may offer WHEP extensions (draft-murillo-whep; the layer
// extension is the one medooze's whip-whep client uses):
// each is a resource below the session's URL, announced in the 201's Link
// header with its relation type, and served by the node that holds the
// session.

// extension is one of a session's extension resources.
type extension struct {
	rel     string
	handler http.Handler
}

// AddExtension serves h at the session's URL + "/" + name and announces
// it with rel. Call it from CreateFunc, before the answer is returned.
func (p *Peer) AddExtension(name, rel string, h http.Handler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ext == nil {
		p.ext = map[string]extension{}
	}
	p.ext[name] = extension{rel: rel, handler: h}
}

func (p *Peer) extensions() map[string]extension {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]extension, len(p.ext))
	for k, v := range p.ext {
		out[k] = v
	}
	return out
}

// extensionLinks adds the Link header of each of peer's extensions, below
// the session URL loc.
func extensionLinks(w http.ResponseWriter, loc string, peer *Peer) {
	for name, x := range peer.extensions() {
		w.Header().Add("Link", fmt.Sprintf(`<%s/%s>; rel="%s"`, loc, name, x.rel))
	}
}

// extension serves a request to one of a session's extensions, on the
// node that holds the session.
func (e *Endpoint) extension(w http.ResponseWriter, r *http.Request) {
	if !e.admitted(w, r) {
		return
	}
	e.mu.Lock()
	res := e.sessions[r.PathValue("id")]
	e.mu.Unlock()
	if res == nil || res.stream != r.PathValue("stream") {
		WriteError(w, Errorf(http.StatusNotFound, "no session %s for stream %q on this node: use the session URL the answer gave (Location)", r.PathValue("id"), r.PathValue("stream")))
		return
	}
	x, ok := res.peer.extensions()[r.PathValue("ext")]
	if !ok {
		WriteError(w, Errorf(http.StatusNotFound, "this session has no extension %q", r.PathValue("ext")))
		return
	}
	x.handler.ServeHTTP(w, r)
}
