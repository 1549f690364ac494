package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest"
	"github.com/relaymesh/relaymesh/ingest/whip"
	"github.com/relaymesh/relaymesh/internal/codec"
	"github.com/relaymesh/relaymesh/internal/rtc"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource is a Source of function fields: one VP8 track, a packet every
// 10 ms.
type fakeSource struct{ opened chan struct{} }

func (f fakeSource) String() string { return "fake" }

func (f fakeSource) Open(context.Context) (Feed, error) {
	select {
	case f.opened <- struct{}{}:
	default:
	}
	return &fakeFeed{}, nil
}

type fakeFeed struct{ seq uint16 }

func (f *fakeFeed) Codecs() []fanout.Codec {
	return []fanout.Codec{{MimeType: codec.MimeVP8, ClockRate: 90000}}
}

func (f *fakeFeed) Next(ctx context.Context) (int, *rtp.Packet, error) {
	select {
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	case <-time.After(10 * time.Millisecond):
	}
	f.seq++
	return 0, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: f.seq, Timestamp: uint32(f.seq) * 900, Marker: true},
		Payload: []byte{0x10, 0x00, 0x9d}}, nil
}

func (f *fakeFeed) Close() {}

func loopback() *webrtc.SettingEngine {
	se := &webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	return se
}

// Run publishes a feed into a real WHIP endpoint (the origin's own WHIP
// source behind its HTTP conventions), offering exactly the feed's codec;
// when the origin ends the session, Run reconnects by itself.
func TestRunPublishesAndReconnects(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine, err := rtc.New(rtc.Params{UDPAddr: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: time.Minute})
	defer reg.Close()
	src, err := whip.New(whip.Params{Gate: ingest.NewGate(ingest.GateParams{Registry: reg}), Engine: engine, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ep := &webrtchttp.Endpoint{Prefix: "/whip/", Admit: src.Admit, Create: src.Create, Log: log}
	mux := http.NewServeMux()
	ep.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer ep.CloseAll()

	ctx, cancel := context.WithCancel(context.Background())
	var st Stats
	done := make(chan error, 1)
	opened := make(chan struct{}, 4)
	go func() {
		done <- Run(ctx, Params{Source: fakeSource{opened: opened}, WHIP: srv.URL + "/whip/gw", Settings: loopback(), Log: log,
			MaxBackoff: 200 * time.Millisecond}, &st)
	}()
	defer func() { cancel(); <-done }()

	packetsIn := func() uint64 {
		s, ok := reg.Get("gw")
		if !ok || len(s.Tracks()) == 0 {
			return 0
		}
		if c := s.Tracks()[0].Codec(); c.MimeType != codec.MimeVP8 {
			t.Fatalf("the origin received %s, the feed sends VP8", c.MimeType)
		}
		return s.Tracks()[0].Stats().PacketsIn.Load()
	}
	waitFor(t, 15*time.Second, "packets at the origin", func() bool { return packetsIn() > 20 })

	ep.CloseAll() // the origin drops the publisher
	before := packetsIn()
	waitFor(t, 15*time.Second, "a reconnect and packets again", func() bool { return st.Reconnects.Load() > 0 && packetsIn() > before+20 })
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
