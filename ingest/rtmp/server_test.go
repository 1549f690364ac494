package rtmp

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest"
)

// clientHandshake does the client side of the RTMP handshake (C0+C1, S0+S1+S2,
// C2), as any encoder does.
func clientHandshake(t *testing.T, c net.Conn) {
	t.Helper()
	c1 := make([]byte, 1536)
	_, _ = rand.Read(c1[8:])
	if _, err := c.Write(append([]byte{3}, c1...)); err != nil {
		t.Fatal(err)
	}
	s := make([]byte, 1+1536+1536)
	if _, err := io.ReadFull(c, s); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if _, err := c.Write(s[1 : 1+1536]); err != nil { // C2 echoes S1
		t.Fatal(err)
	}
}

// A chunk stream asking for an absurd chunk size (2 GiB) is cut off at
// once (-MaxChunkSize 1 MiB), and the listener goes on serving.
func TestAbsurdChunkSizesAreRefused(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	s, err := New(Params{Gate: ingest.NewGate(ingest.GateParams{Registry: reg}), Addr: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, msg := range [][]byte{
		// basic header (fmt 0, csid 2), timestamp 0, length 4, type 1
		// (Set Chunk Size), stream 0, then 0x7fffffff.
		{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff},
	} {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clientHandshake(t, c)
		_, _ = c.Write(msg)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		closed := false
		for !closed {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					break
				}
				closed = true
			}
		}
		c.Close()
		if !closed {
			t.Fatalf("a 2 GiB chunk size was accepted (connection still open)")
		}
	}
	// The listener still serves.
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	clientHandshake(t, c)
	c.Close()
}

// Connections past MaxConns are closed at once, and a connection that
// sends nothing (a handshake never completed) is ended after Idle; the
// listener goes on serving once they are gone.
func TestConnectionCapAndIdleDeadline(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	s, err := New(Params{Gate: ingest.NewGate(ingest.GateParams{Registry: reg}), Addr: "127.0.0.1:0", MaxConns: 3, Idle: 300 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	closedWithin := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	var idle []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	time.Sleep(100 * time.Millisecond) // the three are accepted
	extra, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if !closedWithin(extra, 2*time.Second) {
		t.Fatal("a fourth connection past MaxConns 3 was kept")
	}
	for i, c := range idle {
		if !closedWithin(c, 5*time.Second) {
			t.Fatalf("idle connection %d was not ended after Idle", i)
		}
	}
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	clientHandshake(t, c) // served again once the idle ones are gone
}
