package webrtchttp

import "net/http"

// CORSHeaders lets the page of the request's origin use the answer: WHIP
// and WHEP are called cross-origin from players and studio pages, the API
// and VOD from the origins an operator lists. Authorization is allowed (a
// preflight is answered for every method WHIP and WHEP use: POST, PATCH,
// DELETE); Location, ETag, Link and Accept-Patch are exposed or a page
// cannot read the session URL.
func CORSHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch, Accept-Post, Retry-After, WWW-Authenticate")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		h.Set("Access-Control-Max-Age", "86400")
	}
}
