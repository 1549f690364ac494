package webrtchttp

import "net/http"

// CORS lets pages on other origins use WHIP, WHEP and the API (browsers call
// them cross-origin from players and studio pages). Location, ETag, Link and
// Accept-Patch must be exposed or a page cannot read the session URL.
func CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch, Accept-Post, Retry-After")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
			h.Set("Access-Control-Max-Age", "86400")
		}
		next.ServeHTTP(w, r)
	})
}
