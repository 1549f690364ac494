// Package whip is the WHIP (RFC 9725) publisher source: it answers a
// publisher's offer and turns each received track into a fanout.Track.
package whip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest"
	"github.com/relaymesh/relaymesh/internal/errs"
	"github.com/relaymesh/relaymesh/internal/rtc"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
)

// Params configures the WHIP source.
type Params struct {
	// Gate decides on every publisher (name, credentials, cluster claim)
	// and hands out the stream's publication.
	Gate   *ingest.Gate
	Engine *rtc.Engine
	Log    *slog.Logger
	// ConnectTimeout closes a publisher that has not connected by then.
	ConnectTimeout time.Duration
}

// Publisher liveness: a publisher that stops sending (a closed tab, a pulled
// cable) is declared gone after about 1.5 s without traffic, so its stream
// name is free again within about 2 s.
var publisherTimeouts = rtc.Timeouts{Disconnected: time.Second, Failed: 500 * time.Millisecond, Keepalive: 300 * time.Millisecond}

// Source accepts WHIP publishers. Lifecycle: New → Create per POST → Close
// after every session has been closed (Close waits for the read loops).
type Source struct {
	p   Params
	api *webrtc.API
	wg  sync.WaitGroup // read loops
}

// New makes a WHIP source.
func New(p Params) (*Source, error) {
	api, err := p.Engine.PublisherAPI(publisherTimeouts)
	if err != nil {
		return nil, err
	}
	if p.ConnectTimeout <= 0 {
		p.ConnectTimeout = 15 * time.Second
	}
	return &Source{p: p, api: api}, nil
}

// Close waits for every read loop to end; close the sessions first.
func (s *Source) Close() { s.wg.Wait() }

// Admit is the endpoint's check before the offer is read (and before a
// session's PATCH or DELETE): the name and the credential (RFC 9725 §4.1,
// a Bearer token, RFC 6750 §2.1; or ?token= for clients without headers).
func (s *Source) Admit(r *http.Request, stream string) error {
	return s.p.Gate.Check(r.Context(), access(r, stream))
}

func access(r *http.Request, stream string) ingest.Access {
	return ingest.Access{Protocol: "whip", Stream: stream, Token: webrtchttp.Token(r), Client: r.RemoteAddr, Query: r.URL.RawQuery}
}

// Create is the webrtchttp.CreateFunc for POST /whip/{stream}.
func (s *Source) Create(ctx context.Context, r *http.Request, stream, offer string, parsed *sdp.SessionDescription) (string, *webrtchttp.Peer, error) {
	if err := checkSends(parsed); err != nil {
		return "", nil, err
	}
	pub, err := s.p.Gate.Publish(ctx, access(r, stream))
	if err != nil {
		return "", nil, err
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		pub.End()
		return "", nil, fmt.Errorf("new peer connection: %w", err)
	}
	peer := webrtchttp.NewPeer(pc)
	log := s.p.Log.With("stream", stream, "role", "publisher")
	peer.OnClose(func() {
		pub.End()
		log.Info("publisher left")
	})
	// A publisher that stops sending is gone once ICE fails (1.5 s of
	// silence with publisherTimeouts): the name is free again within about
	// 2 s. Closing at "disconnected" (1 s) would drop live publishers whose
	// packets were only delayed on a loaded machine.
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		if st == webrtc.ICEConnectionStateFailed {
			log.Info("publisher lost", "ice", st.String())
			peer.Close()
		}
	})
	legs := ingest.NewLegs(pc, &s.wg)
	tracks := 0
	prepare := func() error {
		n, err := legs.Bind(parsed, pub, chooseSection)
		if errors.Is(err, ingest.ErrNoMedia) {
			return errs.Errorf(ingest.ErrNoMedia, "the offer sends no audio or video")
		}
		tracks = n
		return err
	}
	answer, err := peer.Answer(ctx, offer, prepare)
	if err != nil {
		peer.Close()
		return "", nil, err
	}
	peer.Watch(s.p.ConnectTimeout)
	log.Info("publisher joined", "tracks", tracks)
	return answer, peer, nil
}

// chooseSection receives one codec on a publisher's section: the first of
// the node's codecs, in preference order, that the offer has. Choosing one
// codec at answer time lets the stream's tracks exist, with a known codec,
// before the first packet arrives.
func chooseSection(t *webrtc.RTPTransceiver, m *sdp.MediaDescription) (ingest.Section, error) {
	o, codec, ok := chooseCodec(m)
	if !ok {
		return ingest.Section{}, errs.Errorf(ingest.ErrCodec, "the offer's %s section has no codec this server takes (%s)", m.MediaName.Media, acceptedList(m.MediaName.Media))
	}
	prefs := []webrtc.RTPCodecParameters{codec}
	if rtx, ok := offeredRTX(m, o.PT); ok {
		prefs = append(prefs, rtx)
	}
	if err := t.SetCodecPreferences(prefs); err != nil {
		return ingest.Section{}, errs.Errorf(ingest.ErrCodec, "codec %s: %v", codec.MimeType, err)
	}
	return ingest.Section{PLI: o.PLI, FIR: o.FIR, Codec: fanout.Codec{
		MimeType: codec.MimeType, ClockRate: codec.ClockRate, Channels: codec.Channels, Fmtp: codec.SDPFmtpLine}}, nil
}

// checkSends refuses offers that send nothing (a viewer's recvonly offer
// posted to WHIP by mistake).
func checkSends(d *sdp.SessionDescription) error {
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" && m.MediaName.Media != "video" {
			continue
		}
		if d := rtc.Direction(m); d == "sendonly" || d == "sendrecv" {
			return nil
		}
	}
	return errs.Errorf(ingest.ErrNoMedia, "the offer sends no media (every section is recvonly or inactive); to watch, POST to /whep/ instead")
}

func acceptedList(kind string) string {
	var names []string
	seen := map[string]bool{}
	for _, c := range rtc.PublisherCodecs() {
		if strings.HasPrefix(c.MimeType, kind+"/") && !seen[c.MimeType] {
			seen[c.MimeType] = true
			names = append(names, strings.TrimPrefix(c.MimeType, kind+"/"))
		}
	}
	if kind == "video" {
		return "H264 with packetization-mode=1, " + strings.Join(names[1:], ", ")
	}
	return strings.Join(names, ", ")
}
