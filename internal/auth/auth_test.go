package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newAuth(t *testing.T, p Params) *Authorizer {
	t.Helper()
	a, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func hs256(t *testing.T, secret string, exp time.Time, perms ...Permission) string {
	t.Helper()
	c := claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(exp)}, Permissions: perms}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// want checks Decide's answer: nil, or the sentinel.
func want(t *testing.T, name string, a *Authorizer, r Request, sentinel error) {
	t.Helper()
	err := a.Decide(context.Background(), r)
	if (sentinel == nil && err != nil) || (sentinel != nil && !errors.Is(err, sentinel)) {
		t.Errorf("%s: %v, want %v", name, err, sentinel)
	}
}

// With nothing configured everything is open; with anything configured,
// admin and metrics need an admin credential, and an action no source
// guards stays open.
func TestOpenByDefaultAdminClosedOnceConfigured(t *testing.T) {
	open := newAuth(t, Params{})
	for _, act := range []Action{Publish, Read, Admin, Metrics} {
		want(t, "open "+string(act), open, Request{Action: act, Stream: "s"}, nil)
	}
	a := newAuth(t, Params{Tokens: map[Action]string{Publish: "pub"}})
	want(t, "read not guarded", a, Request{Action: Read, Stream: "s"}, nil)
	want(t, "publish without token", a, Request{Action: Publish, Stream: "s"}, ErrUnauthorized)
	want(t, "publish with it", a, Request{Action: Publish, Stream: "s", Token: "pub"}, nil)
	want(t, "admin with no admin token configured", a, Request{Action: Admin}, ErrUnauthorized)
	want(t, "admin with the publish token", a, Request{Action: Admin, Token: "pub"}, ErrForbidden)
	want(t, "metrics", a, Request{Action: Metrics}, ErrUnauthorized)
	b := newAuth(t, Params{Tokens: map[Action]string{Admin: "adm", Read: "rd"}})
	want(t, "admin token grants metrics", b, Request{Action: Metrics, Token: "adm"}, nil)
	want(t, "read token is not admin", b, Request{Action: Admin, Token: "rd"}, ErrForbidden)
	want(t, "unknown token", b, Request{Action: Read, Stream: "s", Token: "nope"}, ErrUnauthorized)
}

// A stream key publishes its own stream and no other.
func TestStreamKeysAndReload(t *testing.T) {
	old := keysPoll
	keysPoll = 20 * time.Millisecond
	defer func() { keysPoll = old }()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(path, []byte("cam1: k1\ncam2: k2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := newAuth(t, Params{StreamKeys: path})
	want(t, "own key", a, Request{Action: Publish, Stream: "cam1", Token: "k1"}, nil)
	want(t, "another stream's key", a, Request{Action: Publish, Stream: "cam1", Token: "k2"}, ErrForbidden)
	want(t, "no key", a, Request{Action: Publish, Stream: "cam1"}, ErrUnauthorized)
	want(t, "a stream with no key", a, Request{Action: Publish, Stream: "cam3", Token: "k1"}, ErrForbidden)
	if err := os.WriteFile(path, []byte("cam1: rotated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Decide(context.Background(), Request{Action: Publish, Stream: "cam1", Token: "rotated"}) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the rotated key was not picked up in 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	want(t, "the old key after rotation", a, Request{Action: Publish, Stream: "cam1", Token: "k1"}, ErrUnauthorized)
	if err := os.WriteFile(path, []byte("not: [yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	want(t, "a broken file keeps the last keys", a, Request{Action: Publish, Stream: "cam1", Token: "rotated"}, nil)
	if _, err := New(Params{StreamKeys: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("a missing key file was accepted")
	}
}

// HS256 JWTs grant actions on stream globs, honouring exp and nbf.
func TestJWTPermissions(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	a := newAuth(t, Params{JWTSecret: secret})
	later := time.Now().Add(time.Hour)
	camRead := hs256(t, secret, later, Permission{Read, "cam*"})
	cases := []struct {
		name string
		r    Request
		err  error
	}{
		{"glob matches", Request{Action: Read, Stream: "cam7", Token: camRead}, nil},
		{"another stream", Request{Action: Read, Stream: "lobby", Token: camRead}, ErrForbidden},
		{"another action", Request{Action: Publish, Stream: "cam7", Token: camRead}, ErrForbidden},
		{"expired", Request{Action: Read, Stream: "cam7", Token: hs256(t, secret, time.Now().Add(-time.Minute), Permission{Read, "*"})}, ErrUnauthorized},
		{"wrong secret", Request{Action: Read, Stream: "cam7", Token: hs256(t, "another-secret-another-secret-00", later, Permission{Read, "*"})}, ErrUnauthorized},
		{"admin ignores the stream", Request{Action: Admin, Token: hs256(t, secret, later, Permission{Admin, "x"})}, nil},
		{"read on no stream needs *", Request{Action: Read, Token: camRead}, ErrForbidden},
		{"no token", Request{Action: Read, Stream: "cam7"}, ErrUnauthorized},
		{"garbage", Request{Action: Read, Stream: "cam7", Token: "a.b.cccccccccccccccccccccc"}, ErrUnauthorized},
	}
	for _, c := range cases {
		want(t, c.name, a, c.r, c.err)
	}
	nbf := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{RegisteredClaims: jwt.RegisteredClaims{NotBefore: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Permissions: []Permission{{Read, "*"}}})
	s, _ := nbf.SignedString([]byte(secret))
	want(t, "not yet valid", a, Request{Action: Read, Stream: "x", Token: s}, ErrUnauthorized)
}

// jwksServer serves a JWKS of the keys it holds; rotate replaces them.
type jwksServer struct {
	mu   sync.Mutex
	keys []jwkset.JWKMarshal
	hits atomic.Int32
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
}

func (s *jwksServer) set(t *testing.T, kid string, key *ecdsa.PrivateKey) {
	j, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgES256, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.keys = []jwkset.JWKMarshal{j.Marshal()}
	s.mu.Unlock()
}

func es256(t *testing.T, kid string, key *ecdsa.PrivateKey, perms ...Permission) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}, Permissions: perms})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Keys come from a JWKS and a rotated key is fetched at its first use.
func TestJWKSRotation(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	js := &jwksServer{}
	js.set(t, "k1", k1)
	srv := httptest.NewServer(js)
	defer srv.Close()
	a := newAuth(t, Params{JWKS: srv.URL})
	want(t, "a token of the published key", a, Request{Action: Publish, Stream: "s", Token: es256(t, "k1", k1, Permission{Publish, "s"})}, nil)
	want(t, "a key the set does not hold", a, Request{Action: Publish, Stream: "s", Token: es256(t, "k2", k2, Permission{Publish, "s"})}, ErrUnauthorized)
	js.set(t, "k2", k2) // the provider rotates
	deadline := time.Now().Add(15 * time.Second)
	for a.Decide(context.Background(), Request{Action: Publish, Stream: "s", Token: es256(t, "k2", k2, Permission{Publish, "s"})}) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the rotated key was not fetched within 15 s of its first use")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The webhook allows with 2xx, refuses with 401/403 as themselves, and
// refuses (fail closed) when it is slow or down; answers are cached.
func TestWebhook(t *testing.T) {
	var calls atomic.Int32
	var got webhookBody
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var b webhookBody
		_ = json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		got = b
		mu.Unlock()
		switch b.Stream {
		case "ok":
			w.WriteHeader(http.StatusNoContent)
		case "nope":
			w.WriteHeader(http.StatusForbidden)
		case "slow":
			time.Sleep(500 * time.Millisecond)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	a := newAuth(t, Params{Webhook: srv.URL, WebhookTimeout: 200 * time.Millisecond})
	r := Request{Action: Read, Protocol: "whep", Stream: "ok", Token: "t", Client: "192.0.2.1", Query: "token=t"}
	want(t, "allowed", a, r, nil)
	want(t, "allowed, cached", a, r, nil)
	if calls.Load() != 1 {
		t.Errorf("%d calls for two identical accesses, want 1 (cached)", calls.Load())
	}
	mu.Lock()
	if got.Action != Read || got.Protocol != "whep" || got.Client != "192.0.2.1" || got.Token != "t" || got.Query != "token=t" {
		t.Errorf("the webhook received %+v", got)
	}
	mu.Unlock()
	want(t, "denied", a, Request{Action: Read, Stream: "nope"}, ErrForbidden)
	want(t, "unauthorized", a, Request{Action: Read, Stream: "who"}, ErrUnauthorized)
	want(t, "timed out: fail closed", a, Request{Action: Read, Stream: "slow"}, ErrUnavailable)
	srv.Close()
	want(t, "down: fail closed", a, Request{Action: Read, Stream: "other"}, ErrUnavailable)
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		glob, name string
		ok         bool
	}{{"*", "", true}, {"*", "cam", true}, {"cam*", "cam1", true}, {"cam*", "lobby", false}, {"*-hd", "a-hd", true},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"cam", "cam", true}, {"cam", "cam1", false}} {
		if globMatch(c.glob, c.name) != c.ok {
			t.Errorf("globMatch(%q, %q) = %v", c.glob, c.name, !c.ok)
		}
	}
}

// Whatever a client sends as a credential, Decide answers without
// panicking, and only a real grant allows.
func FuzzDecide(f *testing.F) {
	const secret = "0123456789abcdef0123456789abcdef"
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.x", "cam")
	f.Add("", "")
	f.Add("a.b.c", "*")
	a, err := New(Params{JWTSecret: secret, Tokens: map[Action]string{Read: "rd"}})
	if err != nil {
		f.Fatal(err)
	}
	defer a.Close()
	f.Fuzz(func(t *testing.T, token, stream string) {
		err := a.Decide(context.Background(), Request{Action: Publish, Stream: stream, Token: token})
		if err == nil {
			t.Fatalf("publish allowed with %q", token)
		}
		_ = globMatch(stream, token)
	})
}
