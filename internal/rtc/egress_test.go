package rtc

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/relaymesh/relaymesh/internal/gso"
)

// testEgress is an Egress that has taken over, sending to rx from a
// batcher socket of its own, with the decrypting context for rx.
func testEgress(t *testing.T) (*Egress, *net.UDPConn, *srtp.Context) {
	t.Helper()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	b := gso.NewBatcher(true, nil)
	b.Wrap(tx)
	key, salt := make([]byte, 16), make([]byte, 12)
	key[0], salt[0] = 1, 2
	enc, err := newSealer(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	e := &Egress{burst: &gso.Burst{}, b: b, log: slog.New(slog.NewTextHandler(io.Discard, nil)), own: new(atomic.Int64), pion: new(atomic.Int64), sealer: enc}
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	e.follow(&to)
	e.ready.Store(true)
	return e, rx, dec
}

// readRTP reads one SRTP packet from rx and decrypts it.
func readRTP(t *testing.T, rx *net.UDPConn, dec *srtp.Context) *rtp.Packet {
	t.Helper()
	buf := make([]byte, 1600)
	_ = rx.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := rx.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := dec.DecryptRTP(nil, buf[:n], nil)
	if err != nil {
		t.Fatalf("a packet did not authenticate: %v", err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(plain); err != nil {
		t.Fatal(err)
	}
	return &p
}

// Packets written in a burst and outside one arrive, authenticated and in
// order; a burst past what one send carries goes in parts; after the pair
// turns to TCP nothing is sent and nothing breaks; after close a write is
// refused.
func TestEgressWrites(t *testing.T) {
	e, rx, dec := testEgress(t)
	w := e.Writer(nil)
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 7, SequenceNumber: 65500}
	payload := make([]byte, 1188)
	write := func() {
		t.Helper()
		h.SequenceNumber++
		payload[0] = byte(h.SequenceNumber)
		if n, err := w.WriteRTP(&h, payload); err != nil || n != 12+len(payload) {
			t.Fatalf("write: %d, %v", n, err)
		}
	}
	first := h.SequenceNumber + 1
	const burst = 70 // past 64 segments and 64 KB
	e.beginInto(nil)
	for range burst {
		write()
	}
	e.end()
	write() // a NACK's answer: at once
	for i := range burst + 1 {
		p := readRTP(t, rx, dec)
		if want := first + uint16(i); p.SequenceNumber != want || p.Payload[0] != byte(want) || len(p.Payload) != len(payload) {
			t.Fatalf("packet %d: seq %d (want %d), %d bytes", i, p.SequenceNumber, want, len(p.Payload))
		}
	}
	if b, d := e.b.Bursts.Load(), e.b.Datagrams.Load(); b != 3 || d != burst+1 {
		t.Fatalf("%d bursts of %d datagrams; want 3 (64 + 6 + the lone one) of %d", b, d, burst+1)
	}

	e.follow(nil) // ICE-TCP
	if n, err := w.WriteRTP(&h, payload); n != 0 || err != nil {
		t.Fatalf("a write with no UDP pair: %d, %v; want nothing sent, no error", n, err)
	}
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	e.follow(&to)
	write()
	if p := readRTP(t, rx, dec); p.SequenceNumber != h.SequenceNumber {
		t.Fatalf("after the pair came back: seq %d, want %d", p.SequenceNumber, h.SequenceNumber)
	}

	e.close()
	if _, err := w.WriteRTP(&h, payload); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("a write after close: %v; want io.ErrClosedPipe", err)
	}
	e.follow(&to) // a pair change that comes after close
	if e.route != nil || e.b.Watched() != 0 {
		t.Fatal("a pair change after close left a watch open")
	}
}
