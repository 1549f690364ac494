package whep

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/codec"
	"github.com/relaymesh/relaymesh/internal/rtc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// viewerOffer is a pion viewer's offer receiving the given kinds with
// pion's default codecs, and the peer that made it.
func viewerOffer(t *testing.T, kinds ...webrtc.RTPCodecType) (*webrtc.PeerConnection, string) {
	t.Helper()
	api, err := whipclient.NewAPI(whipclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := whipclient.LocalOffer(t.Context(), pc)
	if err != nil {
		t.Fatal(err)
	}
	return pc, offer
}

func parse(t *testing.T, s string) *sdp.SessionDescription {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		t.Fatal(err)
	}
	return &d
}

// matchTracks gives a viewer the kinds it receives, and refuses with
// ErrOffer, naming the stream's codec, one that cannot decode it.
func TestMatchTracks(t *testing.T) {
	vp8 := fanout.NewTrack(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: codec.Codec{MimeType: codec.MimeVP8, ClockRate: 90000}})
	hi444 := fanout.NewTrack(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: codec.H264("f4001f")})
	opus := fanout.NewTrack(fanout.TrackParams{ID: "audio", Kind: fanout.KindAudio, Codec: codec.Opus})
	for _, tr := range []*fanout.Track{vp8, hi444, opus} {
		defer tr.Close()
	}
	_, both := viewerOffer(t, webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	_, audioOnly := viewerOffer(t, webrtc.RTPCodecTypeAudio)
	_, none := viewerOffer(t)
	cases := []struct {
		name   string
		offer  string
		tracks []*fanout.Track
		want   int
		err    string
	}{
		{"video and audio", both, []*fanout.Track{vp8, opus}, 2, ""},
		{"audio-only viewer gets audio", audioOnly, []*fanout.Track{vp8, opus}, 1, ""},
		{"no High 4:4:4 decoder", both, []*fanout.Track{hi444, opus}, 0, "profile-level-id=f4001f"},
		{"receives nothing", none, []*fanout.Track{vp8, opus}, 0, "receives no audio or video"},
	}
	for _, c := range cases {
		got, err := matchTracks(parse(t, c.offer), fanout.Groups(c.tracks))
		if c.err != "" {
			if !errors.Is(err, ErrOffer) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want ErrOffer naming %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != c.want {
			t.Errorf("%s: %d tracks, %v; want %d", c.name, len(got), err, c.want)
		}
	}
}

// A real pion viewer gets a session from Create, connects over the
// engine's one port, and receives the track's packets with its own SSRC;
// an unknown stream is ErrNotFound, one without tracks ErrNotReady.
func TestCreateServesARealViewer(t *testing.T) {
	engine, err := rtc.New(rtc.Params{UDPAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	srv := New(Params{Registry: reg, Engine: engine})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := httptest.NewRequest("POST", "/whep/cam", nil)

	_, offer := viewerOffer(t, webrtc.RTPCodecTypeVideo)
	if _, _, err := srv.Create(ctx, req, "cam", offer, parse(t, offer)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown stream: %v, want ErrNotFound", err)
	}
	pub, err := reg.Publish("cam")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Create(ctx, req, "cam", offer, parse(t, offer)); !errors.Is(err, ErrNotReady) {
		t.Fatalf("stream without tracks: %v, want ErrNotReady", err)
	}
	tr := pub.Track(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: codec.Codec{MimeType: codec.MimeVP8, ClockRate: 90000}})
	pub.Settle()

	pc, offer := viewerOffer(t, webrtc.RTPCodecTypeVideo)
	got := make(chan *rtp.Packet, 100)
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := remote.ReadRTP()
			if err != nil {
				return
			}
			got <- p
		}
	})
	answer, peer, err := srv.Create(ctx, req, "cam", offer, parse(t, offer))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for seq := uint16(100); ; seq++ {
		select {
		case p := <-got:
			if p.SSRC == 4242 || len(p.Payload) != 3 || p.Payload[2] != 0x77 {
				t.Fatalf("viewer got %+v: want the track's payload on the leg's own SSRC", p)
			}
			pub.End()
			return
		case <-tick.C:
			tr.Write(&fanout.Packet{Header: rtp.Header{Version: 2, SSRC: 4242, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: []byte{0x10, 0x00, 0x77}})
		case <-ctx.Done():
			t.Fatal("the viewer received nothing in 10 s")
		}
	}
}
