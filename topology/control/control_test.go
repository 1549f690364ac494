package control

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func roundTrip(t *testing.T, a, b *nats.Conn) {
	t.Helper()
	sub, err := b.SubscribeSync("relaymesh.test")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = b.Flush()
	if err := a.Publish("relaymesh.test", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(msg.Data) != "hi" {
		t.Fatalf("message: %v %v", msg, err)
	}
}

// The single-machine default: an embedded server reached in-process, with
// no port opened.
func TestEmbeddedInProcess(t *testing.T) {
	p, err := Open(Params{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.ClientURL() != "" {
		t.Fatalf("in-process server listens at %s", p.ClientURL())
	}
	roundTrip(t, p.Conn, p.Conn)
}

// -nats-listen exposes the embedded server; another node connects to it
// with -nats.
func TestEmbeddedExposedAndExternalClient(t *testing.T) {
	origin, err := Open(Params{Name: "origin", Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	if origin.ClientURL() == "" {
		t.Fatal("exposed server has no client URL")
	}
	relay, err := Open(Params{Name: "relay", URL: origin.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	roundTrip(t, origin.Conn, relay.Conn)
}

func TestBadParams(t *testing.T) {
	if _, err := Open(Params{Listen: "no-port"}); err == nil {
		t.Fatal("bad listen address accepted")
	}
	if _, err := Open(Params{URL: "nats://127.0.0.1:1"}); err == nil {
		t.Fatal("unreachable NATS accepted")
	}
}

// With -nats-token the embedded server takes no client without it: a
// stranger cannot rewrite the stream directory. Listening beyond loopback
// without a token is refused at start.
func TestEmbeddedServerRequiresItsToken(t *testing.T) {
	origin, err := Open(Params{Name: "origin", Listen: "127.0.0.1:0", Token: "nats-s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	if _, err := Open(Params{Name: "stranger", URL: origin.ClientURL()}); err == nil {
		t.Fatal("a client without the token connected")
	}
	if _, err := Open(Params{Name: "guess", URL: origin.ClientURL(), Token: "guess"}); err == nil {
		t.Fatal("a client with another token connected")
	}
	relay, err := Open(Params{Name: "relay", URL: origin.ClientURL(), Token: "nats-s3cret"})
	if err != nil {
		t.Fatalf("the relay with the token: %v", err)
	}
	defer relay.Close()
	roundTrip(t, origin.Conn, relay.Conn)
	if _, err := Open(Params{Name: "open", Listen: "0.0.0.0:0"}); !errors.Is(err, ErrOpenListener) {
		t.Fatalf("-nats-listen 0.0.0.0 without a token: %v, want ErrOpenListener", err)
	}
	if got := Redact("nats://user:pw@h:4222,tls://tok@h2:4222"); got != "nats://***@h:4222,tls://***@h2:4222" {
		t.Fatalf("Redact: %s", got)
	}
}
