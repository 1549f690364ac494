package node

import (
	"encoding/base64"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/relaymesh/relaymesh/internal/auth"
)

// AuthConfig is access control (INTERFACE.md): every credential optional,
// all combinable; with none the node is open.
type AuthConfig struct {
	PublishToken, ReadToken, AdminToken string
	StreamKeys                          string
	JWTSecret, JWKS                     string
	Webhook                             string
	CORSOrigins                         string
	// GossipKey closes the cluster: gossip is encrypted and authenticated
	// with it, and nodes sign their media links with a key derived from it.
	GossipKey string
	// NATS credentials and TLS: presented to an external server; the token
	// is also required by the embedded one.
	NATSToken, NATSCreds, NATSTLSCA, NATSTLSCert, NATSTLSKey string
}

func (a *AuthConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&a.PublishToken, "publish-token", "", "publishers must present this `token` (WHIP: Authorization: Bearer; RTMP: stream key NAME?token=; RTSP: ?token= or the password)")
	fs.StringVar(&a.ReadToken, "read-token", "", "viewers must present this `token` (WHEP, RTSP read, VOD and HLS; also ?token= on URLs)")
	fs.StringVar(&a.AdminToken, "admin-token", "", "API writes, recordings' start/stop/delete, pprof and /metrics need this `token`; once any credential is set, admin actions are refused without it")
	fs.StringVar(&a.StreamKeys, "stream-keys", "", "YAML `file` of per-stream publish keys (stream: key), reloaded when it changes")
	fs.StringVar(&a.JWTSecret, "auth-jwt-secret", "", "HS256 `secret` of JWTs whose \"permissions\" claim grants actions on stream-name globs")
	fs.StringVar(&a.JWKS, "auth-jwks", "", "JWKS `URL` whose keys verify RS256/ES256/EdDSA JWTs (refreshed)")
	fs.StringVar(&a.Webhook, "auth-webhook", "", "`URL` that receives a JSON description of each access the other credentials do not allow; 2xx allows; fails closed")
	fs.StringVar(&a.GossipKey, "gossip-key", "", "base64 `keys` (16, 24 or 32 bytes), comma-separated: gossip is encrypted with the first and read with any (rotate by adding the new one second everywhere, then first); nodes without it cannot join, and media links between nodes are signed with it")
	fs.StringVar(&a.NATSToken, "nats-token", "", "NATS `token`: presented to -nats, and required by the embedded server from every client (needed for -nats-listen beyond loopback)")
	fs.StringVar(&a.NATSCreds, "nats-creds", "", "NATS credentials `file` (.creds, or an NKey seed) for -nats")
	fs.StringVar(&a.NATSTLSCA, "nats-tls-ca", "", "CA `file` that verifies the -nats server's certificate")
	fs.StringVar(&a.NATSTLSCert, "nats-tls-cert", "", "client certificate `file` for -nats servers that ask for one")
	fs.StringVar(&a.NATSTLSKey, "nats-tls-key", "", "the client certificate's key `file`")
	fs.StringVar(&a.CORSOrigins, "cors-origins", "", "comma-separated `origins` allowed to read the API, VOD and admin routes cross-origin (WHIP and WHEP are always cross-origin)")
}

func (a *AuthConfig) validate() []error {
	var errs []error
	if a.JWTSecret != "" && len(a.JWTSecret) < 32 {
		errs = append(errs, fmt.Errorf("-auth-jwt-secret is %d bytes; HS256 wants at least 32 (RFC 7518 §3.2)", len(a.JWTSecret)))
	}
	for _, u := range []struct{ flag, v string }{{"auth-jwks", a.JWKS}, {"auth-webhook", a.Webhook}} {
		if u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("-%s: want an http:// or https:// URL", u.flag)) // never the value: it may hold a secret
		}
	}
	if (a.NATSTLSCert == "") != (a.NATSTLSKey == "") {
		errs = append(errs, fmt.Errorf("-nats-tls-cert and -nats-tls-key go together"))
	}
	if _, err := a.gossipKeys(); err != nil {
		errs = append(errs, err)
	}
	for _, o := range a.corsOrigins() {
		if p, err := url.Parse(o); o != "*" && (err != nil || p.Scheme == "" || p.Host == "" || p.Path != "") {
			errs = append(errs, fmt.Errorf("-cors-origins %q: want origins such as https://studio.example.com", o))
		}
	}
	return errs
}

func (a *AuthConfig) corsOrigins() []string { return splitList(a.CORSOrigins) }

// gossipKeys decodes -gossip-key.
func (a *AuthConfig) gossipKeys() ([][]byte, error) {
	var keys [][]byte
	for i, k := range splitList(a.GossipKey) {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			return nil, fmt.Errorf("-gossip-key: key %d is not base64 (make one with: head -c 32 /dev/urandom | base64)", i+1)
		}
		if n := len(b); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("-gossip-key: key %d is %d bytes; AES wants 16, 24 or 32", i+1, n)
		}
		keys = append(keys, b)
	}
	return keys, nil
}

// params is the Authorizer's configuration.
func (a *AuthConfig) params() auth.Params {
	return auth.Params{
		Tokens:     map[auth.Action]string{auth.Publish: a.PublishToken, auth.Read: a.ReadToken, auth.Admin: a.AdminToken},
		StreamKeys: a.StreamKeys, JWTSecret: a.JWTSecret, JWKS: a.JWKS, Webhook: a.Webhook,
	}
}

// describe is the banner's one line on access control, naming which
// credentials are configured and never their values.
func (a *AuthConfig) describe(z *auth.Authorizer) string {
	if !z.Enabled() {
		return "open: no credentials configured (anyone who reaches this node may publish, watch and administer it)"
	}
	var on []string
	for _, c := range []struct{ name, v string }{{"publish token", a.PublishToken}, {"read token", a.ReadToken}, {"admin token", a.AdminToken},
		{"stream keys", a.StreamKeys}, {"JWT (HS256)", a.JWTSecret}, {"JWKS", a.JWKS}, {"webhook", a.Webhook}} {
		if c.v != "" {
			on = append(on, c.name)
		}
	}
	var open []string
	for _, act := range []auth.Action{auth.Publish, auth.Read} {
		if !z.Guarded(act) {
			open = append(open, string(act))
		}
	}
	s := "on (" + strings.Join(on, ", ") + ")"
	if len(open) > 0 {
		s += "; " + strings.Join(open, " and ") + " open"
	}
	return s
}
