package whip

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest"
	"github.com/relaymesh/relaymesh/internal/errs"
	"github.com/relaymesh/relaymesh/internal/rtc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// publisherOffer is a pion publisher's offer sending VP8 video, and its
// track and peer.
func publisherOffer(t *testing.T) (*webrtc.PeerConnection, *webrtc.TrackLocalStaticRTP, string) {
	t.Helper()
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack", Parameter: "pli"}}}
	// VP8 only: the source prefers H.264 when offered.
	api, err := whipclient.NewAPI(whipclient.Options{Codecs: []whipclient.Codec{{Kind: webrtc.RTPCodecTypeVideo, Codec: vp8}}})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	tr, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", "pub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(tr); err != nil {
		t.Fatal(err)
	}
	offer, err := whipclient.LocalOffer(t.Context(), pc)
	if err != nil {
		t.Fatal(err)
	}
	return pc, tr, offer
}

// The WHIP source asks the gate before the offer is read (the token), then
// publishes through it; a real pion publisher's packets reach the stream's
// fanout track; a second publisher of the name is ErrBusy.
func TestWHIPPublisherThroughTheGate(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine, err := rtc.New(rtc.Params{UDPAddr: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	src, err := New(Params{Gate: ingest.NewGate(ingest.GateParams{Registry: reg, Authorize: tokenIs("tok")}), Engine: engine, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	req := httptest.NewRequest("POST", "/whip/cam", nil)
	if err := src.Admit(req, "cam"); !errors.Is(err, ingest.ErrUnauthorized) {
		t.Fatalf("no token: %v, want ErrUnauthorized", err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	if err := src.Admit(req, "cam"); err != nil {
		t.Fatalf("with the token: %v", err)
	}

	pc, track, offer := publisherOffer(t)
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(offer); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answer, peer, err := src.Create(ctx, req, "cam", offer, &parsed)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, _, err := src.Create(ctx, req, "cam", offer, &parsed); !errors.Is(err, ingest.ErrBusy) {
		t.Fatalf("second publisher: %v, want ErrBusy", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	s, ok := reg.Get("cam")
	if !ok || len(s.Tracks()) != 1 || s.Tracks()[0].Codec().MimeType != webrtc.MimeTypeVP8 {
		t.Fatalf("the stream's tracks were not made at answer time")
	}
	in := s.Tracks()[0]
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for seq := uint16(1); in.Stats().PacketsIn.Load() == 0; seq++ {
		select {
		case <-tick.C:
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: []byte{0x10, 0, 1}})
		case <-ctx.Done():
			t.Fatal("no packet reached the fanout track in 10 s")
		}
	}
}

// tokenIs is a gate's Authorize wanting one token.
func tokenIs(tok string) func(context.Context, ingest.Access) error {
	return func(_ context.Context, a ingest.Access) error {
		if a.Token != tok {
			return errs.Errorf(ingest.ErrUnauthorized, "publishing needs the token")
		}
		return nil
	}
}
