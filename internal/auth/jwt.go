package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/relaymesh/relaymesh/internal/errs"
)

// Permission is one grant of a JWT's "permissions" claim (INTERFACE.md):
// an action on the stream names a glob matches ("*" matches any run of
// name characters; admin ignores the stream).
type Permission struct {
	Action Action `json:"action"`
	Stream string `json:"stream"`
}

// claims are what relaymesh reads of a JWT; exp and nbf are honoured.
type claims struct {
	jwt.RegisteredClaims
	Permissions []Permission `json:"permissions"`
}

// jwtVerifier checks JWTs with golang-jwt: HS256 against the secret, the
// asymmetric algorithms against the JWKS's keys (keyfunc refreshes them
// hourly and on an unknown key id, at most every 10 s, so a rotated key
// is picked up at its first use).
type jwtVerifier struct {
	secret []byte
	jwks   keyfunc.Keyfunc
	cancel context.CancelFunc
	parser *jwt.Parser
}

func newJWTVerifier(secret, jwksURL string, log *slog.Logger) (*jwtVerifier, error) {
	v := &jwtVerifier{secret: []byte(secret)}
	var methods []string
	if secret != "" {
		methods = append(methods, "HS256")
	}
	if jwksURL != "" {
		ctx, cancel := context.WithCancel(context.Background())
		v.cancel = cancel
		k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{jwksURL}, keyfunc.Override{
			Client:            &http.Client{Timeout: 5 * time.Second},
			HTTPTimeout:       5 * time.Second,
			RefreshInterval:   time.Hour,
			RefreshUnknownKID: rate.NewLimiter(rate.Every(10*time.Second), 1),
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(_ context.Context, err error) {
					log.Error("JWKS refresh failed; the keys fetched before stay in force", "url", u, "err", err)
				}
			},
		})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("-auth-jwks %s: %w", jwksURL, err)
		}
		v.jwks = k
		methods = append(methods, "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
	}
	v.parser = jwt.NewParser(jwt.WithValidMethods(methods), jwt.WithLeeway(5*time.Second))
	return v, nil
}

func (v *jwtVerifier) close() {
	if v.cancel != nil {
		v.cancel()
	}
}

func (v *jwtVerifier) key(t *jwt.Token) (any, error) {
	if t.Method.Alg() == "HS256" {
		if len(v.secret) == 0 {
			return nil, errors.New("HS256 tokens are not taken here")
		}
		return v.secret, nil
	}
	if v.jwks == nil {
		return nil, fmt.Errorf("%s tokens need -auth-jwks", t.Method.Alg())
	}
	return v.jwks.Keyfunc(t)
}

// allows verifies the token and checks its permissions against r: nil,
// ErrForbidden (valid, not allowed) or ErrUnauthorized with the reason.
func (v *jwtVerifier) allows(r Request) error {
	var c claims
	if _, err := v.parser.ParseWithClaims(r.Token, &c, v.key); err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return errs.Errorf(ErrUnauthorized, "the token has expired; get a new one")
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			return errs.Errorf(ErrUnauthorized, "the token is not valid yet (nbf)")
		}
		return errs.Errorf(ErrUnauthorized, "the token is not valid: %v", err)
	}
	for _, p := range c.Permissions {
		if p.Action != r.Action && !(p.Action == Admin && r.Action == Metrics) {
			continue
		}
		if p.Action == Admin || globMatch(p.Stream, r.Stream) {
			return nil
		}
	}
	return ErrForbidden
}

// looksLikeJWT: three base64url parts (RFC 7519 §7.2), so static tokens
// and stream keys are not sent to the JWT parser.
func looksLikeJWT(tok string) bool { return strings.Count(tok, ".") == 2 && len(tok) > 20 }

// globMatch matches a stream name against a glob whose "*" stands for any
// run of characters (names have no separators); nothing else is special.
func globMatch(glob, name string) bool {
	star := strings.IndexByte(glob, '*')
	if star < 0 {
		return glob == name
	}
	prefix := glob[:star]
	if !strings.HasPrefix(name, prefix) {
		return false
	}
	rest := glob[star+1:]
	for i := len(prefix); i <= len(name); i++ {
		if globMatch(rest, name[i:]) {
			return true
		}
	}
	return false
}
