package node

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest"
	"github.com/relaymesh/relaymesh/internal/auth"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
)

// The node's doors all ask n.auth (ARCHITECTURE.md, Access control): the
// publish gate for WHIP, RTMP and RTSP publishers; readAccess for WHEP,
// RTSP readers and VOD; guard for the API, metrics and pprof.

// publishAccess is the publish gate's Authorize.
func (n *Node) publishAccess(ctx context.Context, a ingest.Access) error {
	return n.auth.Decide(ctx, auth.Request{Action: auth.Publish, Protocol: a.Protocol, Stream: a.Stream, Token: a.Token, Client: a.Client, Query: a.Query})
}

// readAccess is the twin gate for readers of a stream.
func (n *Node) readAccess(ctx context.Context, a ingest.Access) error {
	return n.auth.Decide(ctx, auth.Request{Action: auth.Read, Protocol: a.Protocol, Stream: a.Stream, Token: a.Token, Client: a.Client, Query: a.Query})
}

// admitViewer is the WHEP endpoint's check before an offer is read (and
// before a session's PATCH or DELETE): the name, then read access. A child
// relay's request signed with the cluster's link key is a member's and
// reads without a viewer's credential.
func (n *Node) admitViewer(r *http.Request, stream string) error {
	if err := fanout.CheckName(stream); err != nil {
		return err
	}
	if n.links != nil && n.links.Verify(r, stream, time.Now(), n.isMember) == nil {
		return nil
	}
	return n.readAccess(r.Context(), ingest.Access{Protocol: "whep", Stream: stream, Token: webrtchttp.Token(r), Client: r.RemoteAddr, Query: r.URL.RawQuery})
}

// route is what a request outside WHIP and WHEP asks of access control.
type route struct {
	action auth.Action
	stream string
	open   bool // needs nothing: health, readiness, the web page
	// crossOrigin: WHIP and WHEP answer any page (players are
	// cross-origin); everything else only -cors-origins.
	crossOrigin bool
}

// classify maps a request to its action (INTERFACE.md, HTTP): publish for
// WHIP, read for WHEP, VOD and API reads, admin for API writes, deletes and
// pprof, metrics for /metrics.
func classify(r *http.Request) route {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/whip/"), strings.HasPrefix(p, "/whep/"):
		return route{open: true, crossOrigin: true} // the endpoints' Admit decides, before the body
	case p == "/healthz" || p == "/readyz":
		return route{open: true}
	case p == "/metrics":
		return route{action: auth.Metrics}
	case strings.HasPrefix(p, "/debug/pprof"):
		return route{action: auth.Admin}
	case strings.HasPrefix(p, "/vod/"):
		stream, _, _ := strings.Cut(strings.TrimPrefix(p, "/vod/"), "/")
		if r.Method == http.MethodDelete {
			return route{action: auth.Admin, stream: stream}
		}
		return route{action: auth.Read, stream: stream}
	case strings.HasPrefix(p, "/api/"):
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return route{action: auth.Read}
		}
		return route{action: auth.Admin}
	}
	return route{open: true} // the web page and its assets
}

// guard answers CORS and decides access for every HTTP request before its
// handler runs, so no body is read for a refused client. A page of an
// origin not in -cors-origins gets no CORS headers from the API, VOD and
// admin routes (its browser cannot read the answers) and cannot make them
// change anything: its preflights and writes are refused with 403, so an
// open laptop node cannot be driven by any web page its owner visits.
func (n *Node) guard(next http.Handler) http.Handler {
	allowed := n.cfg.Auth.corsOrigins()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := classify(r)
		if rt.crossOrigin {
			// WHIP and WHEP: any page, every answer; the endpoints answer
			// their own preflights (Accept-Post, Link).
			webrtchttp.CORSHeaders(w, r)
		} else if origin := r.Header.Get("Origin"); origin != "" {
			w.Header().Add("Vary", "Origin")
			switch {
			case slices.Contains(allowed, origin) || slices.Contains(allowed, "*"):
				webrtchttp.CORSHeaders(w, r)
			case r.Method != http.MethodGet && r.Method != http.MethodHead:
				webrtchttp.WriteError(w, webrtchttp.Errorf(http.StatusForbidden, "pages of %s may not use this route; list the origin in -cors-origins", origin))
				return
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		n.guardAccess(rt, next).ServeHTTP(w, r)
	})
}

func (n *Node) guardAccess(rt route, next http.Handler) http.Handler {
	if rt.open {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := n.auth.Decide(r.Context(), auth.Request{Action: rt.action, Protocol: "http", Stream: rt.stream,
			Token: webrtchttp.Token(r), Client: r.RemoteAddr, Query: r.URL.RawQuery})
		if err != nil {
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
