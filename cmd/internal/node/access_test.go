package node

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/golang-jwt/jwt/v5"

	"github.com/relaymesh/relaymesh/internal/auth"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

const (
	jwtSecret = "relaymesh-test-secret-0123456789abcdef"
	pubToken  = "publish-s3cret"
	admToken  = "admin-s3cret"
)

var gossipKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func signed(t *testing.T, exp time.Time, perms ...auth.Permission) string {
	t.Helper()
	c := jwt.MapClaims{"exp": exp.Unix(), "permissions": perms}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// outcome of a door for a credential: refused 401 or 403, or let through
// (the door then answers as it would anyway: 404, 415, 200...).
type outcome int

const (
	pass outcome = iota
	unauthorized
	forbidden
)

func (o outcome) String() string { return [...]string{"let through", "401", "403"}[o] }

func httpOutcome(status int) outcome {
	switch status {
	case http.StatusUnauthorized:
		return unauthorized
	case http.StatusForbidden:
		return forbidden
	}
	return pass
}

// credentials of the matrix, and what each door makes of them: a door on
// stream s, a read of no one stream, an admin action.
type credential struct {
	name                   string
	token                  string
	onStream, onAll, admin outcome
}

func matrixCredentials(t *testing.T) []credential {
	later := time.Now().Add(time.Hour)
	return []credential{
		{"none", "", unauthorized, unauthorized, unauthorized},
		{"wrong", "not-a-known-token", unauthorized, unauthorized, unauthorized},
		{"expired JWT", signed(t, time.Now().Add(-time.Hour), auth.Permission{Action: auth.Publish, Stream: "*"},
			auth.Permission{Action: auth.Read, Stream: "*"}, auth.Permission{Action: auth.Admin}), unauthorized, unauthorized, unauthorized},
		{"JWT for another stream", signed(t, later, auth.Permission{Action: auth.Publish, Stream: "other"},
			auth.Permission{Action: auth.Read, Stream: "other"}), forbidden, forbidden, forbidden},
		{"valid JWT", signed(t, later, auth.Permission{Action: auth.Publish, Stream: "s"},
			auth.Permission{Action: auth.Read, Stream: "*"}, auth.Permission{Action: auth.Admin}), pass, pass, pass},
	}
}

// door is one way in over HTTP and which column of the matrix it follows.
type door struct {
	method, path string
	column       func(credential) outcome
	relay        bool // a relay has this door too
}

func doors() []door {
	stream := func(c credential) outcome { return c.onStream }
	all := func(c credential) outcome { return c.onAll }
	admin := func(c credential) outcome { return c.admin }
	return []door{
		{"POST", "/whip/s", stream, false},
		{"PATCH", "/whip/s/nosession", stream, false},
		{"DELETE", "/whip/s/nosession", stream, false},
		{"POST", "/whep/s", stream, true},
		{"PATCH", "/whep/s/nosession", stream, true},
		{"DELETE", "/whep/s/nosession", stream, true},
		{"GET", "/vod/", all, true},
		{"GET", "/vod/s/20260101T000000Z", stream, true},
		{"GET", "/vod/s/20260101T000000Z/index.m3u8", stream, true},
		{"DELETE", "/vod/s/20260101T000000Z", admin, true},
		{"GET", "/api/streams", all, true},
		{"GET", "/api/topology", all, true},
		{"POST", "/api/record/s", admin, true},
		{"DELETE", "/api/record/s", admin, true},
		{"GET", "/metrics", admin, true},
		{"GET", "/debug/pprof/", admin, true},
	}
}

// Every door × every credential, on an origin and on a relay: the same
// decision everywhere, made before any body is read (the POSTs carry
// garbage), 401 with WWW-Authenticate, 403 for a valid credential that
// does not allow. RTMP and RTSP publish and RTSP read follow the same
// matrix. The relay decides for its viewers locally and pulls from the
// origin with a signed member's link: the origin guards reading with JWTs
// only, so the relay has no viewer credential of its own to present.
func TestAccessMatrix(t *testing.T) {
	common := []string{"-auth-jwt-secret", jwtSecret, "-publish-token", pubToken, "-admin-token", admToken, "-gossip-key", gossipKey,
		"-pprof", "-record-dir", t.TempDir()}
	origin, base := startNode(t, append([]string{"-node-id", "origin", "-nats-listen", "127.0.0.1:0",
		"-rtmp", "127.0.0.1:0", "-rtsp", "127.0.0.1:0", "-rtsp-udp", ""}, common...)...)
	relayArgs := append([]string{"-node-id", "r1", "-join", origin.cluster.Addr(), "-record-dir", t.TempDir()}, common[:len(common)-2]...)
	_, relayBase := startRelay(t, origin.NATSURL(), relayArgs...)
	hc := newHTTPClient(t)
	creds := matrixCredentials(t)

	for _, d := range doors() {
		for _, node := range []struct{ name, base string }{{"origin", base}, {"relay", relayBase}} {
			if node.name == "relay" && !d.relay {
				continue
			}
			for _, c := range creds {
				var hdr []string
				if c.token != "" {
					hdr = []string{"Authorization", "Bearer " + c.token}
				}
				res, body := do(t, hc, d.method, node.base+d.path, "text/plain", "garbage, never parsed when refused", hdr...)
				got, want := httpOutcome(res.StatusCode), d.column(c)
				if got != want {
					t.Errorf("%s %s %s with %s: %d %q, want %s", node.name, d.method, d.path, c.name, res.StatusCode, strings.TrimSpace(body), want)
				}
				if got == unauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s %s with %s: 401 without WWW-Authenticate: Bearer", node.name, d.method, d.path, c.name)
				}
			}
		}
	}

	// ?token= stands for the header where a player cannot set one.
	valid := creds[len(creds)-1].token
	if res, _ := do(t, hc, "GET", base+"/vod/?token="+url.QueryEscape(valid), "", ""); res.StatusCode != http.StatusOK {
		t.Errorf("GET /vod/?token=: %d, want 200", res.StatusCode)
	}
	// The static tokens: the publish token publishes, and is no admin.
	if res, _ := do(t, hc, "POST", base+"/whip/s", "text/plain", "x", "Authorization", "Bearer "+pubToken); httpOutcome(res.StatusCode) != pass {
		t.Errorf("the publish token: %d", res.StatusCode)
	}
	if res, _ := do(t, hc, "GET", base+"/metrics", "", "", "Authorization", "Bearer "+pubToken); res.StatusCode != http.StatusForbidden {
		t.Errorf("the publish token on /metrics: %d, want 403", res.StatusCode)
	}
	if res, _ := do(t, hc, "GET", base+"/metrics", "", "", "Authorization", "Bearer "+admToken); res.StatusCode != http.StatusOK {
		t.Errorf("the admin token on /metrics: %d, want 200", res.StatusCode)
	}
	for _, open := range []string{"/healthz", "/readyz", "/"} {
		if res, _ := do(t, hc, "GET", base+open, "", ""); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d, want 200 without credentials", open, res.StatusCode)
		}
	}

	rtspAddr, rtmpAddr := origin.rtsp.Addr().String(), origin.rtmp.Addr().String()
	rtspWant := map[outcome]int{pass: 200, unauthorized: 401, forbidden: 403}
	for _, c := range creds {
		q := ""
		if c.token != "" {
			q = "?token=" + url.QueryEscape(c.token)
		}
		if got, want := announce(t, rtspAddr, "/s"+q, h264SDP), rtspWant[c.onStream]; got != want {
			t.Errorf("RTSP ANNOUNCE with %s: %d, want %d", c.name, got, want)
		}
		wantRead := map[outcome]int{pass: 404, unauthorized: 401, forbidden: 403}[c.onStream] // let through: nothing is published as "s2"
		if got := rtspDescribe(t, rtspAddr, "/s2"+q); got != wantRead {
			t.Errorf("RTSP DESCRIBE with %s: %d, want %d", c.name, got, wantRead)
		}
		err := rtmpPublish(rtmpAddr, "s"+q)
		if (err == nil) != (c.onStream == pass) {
			t.Errorf("RTMP publish with %s: %v, want %s", c.name, err, c.onStream)
		}
	}

	// A real viewer at the relay: the relay admits it with its JWT and
	// pulls from the origin over a signed member's link.
	pub, err := publish(t, hc, base, "live", whipclient.Options{Token: pubToken})
	if err != nil {
		t.Fatal(err)
	}
	video, audio := testMedia(t)
	reader := signed(t, time.Now().Add(time.Hour), auth.Permission{Action: auth.Read, Stream: "live"})
	v, err := watchWith(t, hc, relayBase, "live", whipclient.Options{Token: reader})
	if err != nil {
		t.Fatalf("a viewer with a read JWT at the relay: %v", err)
	}
	pub.warmUp(t, video, audio, v)
	if _, err := watchWith(t, hc, base, "live", whipclient.Options{}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a viewer without credentials at the origin: %v, want 401", err)
	}
}

// rtmpPublish publishes stream (a key with its query) with gortmplib's
// client, as OBS would, and leaves at once.
func rtmpPublish(addr, key string) error {
	u := &url.URL{Scheme: "rtmp", Host: addr, Path: "/live", Fragment: key}
	c := &gortmplib.Client{URL: u, Publish: true}
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	if err := c.Initialize(ctx); err != nil {
		return fmt.Errorf("rtmp publish %s: %w", key, err)
	}
	c.Close()
	return nil
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
