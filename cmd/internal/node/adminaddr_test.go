package node

import (
	"net/http"
	"strings"
	"testing"
)

// With -admin-http, admin actions, /metrics and pprof are served only on
// the admin address (where a NetworkPolicy keeps them inside the cluster);
// viewers' and publishers' routes only on the main one; health on both.
func TestAdminAddress(t *testing.T) {
	n, base := startNode(t, "-admin-http", "127.0.0.1:0", "-pprof", "-admin-token", admToken)
	admin := "http://" + n.adminLn.Addr().String()
	hc := newHTTPClient(t)
	bearer := []string{"Authorization", "Bearer " + admToken}
	for _, c := range []struct {
		base, method, path string
		want               int
	}{
		{base, "GET", "/metrics", http.StatusNotFound},
		{base, "GET", "/debug/pprof/", http.StatusNotFound},
		{base, "POST", "/api/record/x", http.StatusNotFound},
		{base, "GET", "/api/streams", http.StatusOK},
		{base, "GET", "/healthz", http.StatusOK},
		{admin, "GET", "/metrics", http.StatusOK},
		{admin, "GET", "/debug/pprof/", http.StatusOK},
		{admin, "GET", "/healthz", http.StatusOK},
		{admin, "GET", "/readyz", http.StatusOK},
		{admin, "GET", "/api/streams", http.StatusNotFound},
		{admin, "POST", "/whep/x", http.StatusNotFound},
	} {
		res, body := do(t, hc, c.method, c.base+c.path, "", "", bearer...)
		if res.StatusCode != c.want {
			t.Errorf("%s %s%s: %d %q, want %d", c.method, c.base, c.path, res.StatusCode, strings.TrimSpace(body), c.want)
		}
	}
	if res, _ := do(t, hc, "GET", admin+"/metrics", "", ""); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the admin address still needs the admin credential: %d", res.StatusCode)
	}
}
