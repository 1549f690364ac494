package control

import (
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
