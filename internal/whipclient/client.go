// Package whipclient is a WHIP and WHEP client built on pion: what the tests,
// the load tool and the ingest gateway use to publish into and watch from a
// node, the same way OBS or a browser would.
package whipclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// StatusError is a non-201 answer to an offer.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), strings.TrimSpace(e.Body))
}

// Session is one WHIP or WHEP session.
type Session struct {
	PC       *webrtc.PeerConnection
	Location string
	ETag     string
	Header   http.Header // the 201's, Link headers and all
	http     *http.Client
	auth     func(*http.Request) // the offer's credentials, again on PATCH and DELETE
}

// Options tune the client's PeerConnection.
type Options struct {
	HTTP *http.Client
	// Token is sent as Authorization: Bearer.
	Token string
	// Settings, if set, replaces the default loopback-friendly SettingEngine.
	Settings *webrtc.SettingEngine
	// Header is added to the offer's request (a relay names itself to its
	// parent with it).
	Header http.Header
	// Sign, if set, adds headers made afresh for each request of the
	// session (a relay's signed link, which ages).
	Sign func(http.Header)
	// Light skips pion's default interceptors (NACK, reports, TWCC): the
	// load tool's viewers use it to measure the server, not the client.
	Light bool
	// Codecs, if set, are the only codecs offered (a sender offers exactly
	// what it has, so the other side cannot pick a profile it does not
	// send); otherwise pion's defaults.
	Codecs []Codec
	// RTX offers RTX (RFC 4588) with each of Codecs' video codecs, so the
	// client retransmits on a repair stream of its own, named by the RID
	// it repairs under simulcast, as browsers do.
	RTX bool
	// KeepPayloads makes a Watcher keep each packet's payload (tests that
	// check what arrived byte for byte).
	KeepPayloads bool
	// Offer and Answer, if set, rewrite the offer before it is sent and
	// the server's answer before it is applied (a test that routes the
	// media through a shaper changes candidates).
	Offer, Answer func(sdp string) string
}

// Codec is one codec to offer, with its kind.
type Codec struct {
	Kind  webrtc.RTPCodecType
	Codec webrtc.RTPCodecCapability
}

// NewAPI builds the client's pion API: default codecs, and by default the
// default interceptors, with UDP4 and loopback candidates (tests run on
// 127.0.0.1).
func NewAPI(o Options) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for i, c := range o.Codecs {
		pt := webrtc.PayloadType(96 + 2*i)
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c.Codec, PayloadType: pt}, c.Kind); err != nil {
			return nil, err
		}
		if o.RTX && c.Kind == webrtc.RTPCodecTypeVideo {
			rtx := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", pt)}
			if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: rtx, PayloadType: pt + 1}, c.Kind); err != nil {
				return nil, err
			}
		}
	}
	if len(o.Codecs) == 0 {
		if err := m.RegisterDefaultCodecs(); err != nil {
			return nil, err
		}
	}
	ir := &interceptor.Registry{}
	if o.RTX {
		// Added first, it is called after the NACK responder (rrid.go).
		ir.Add(rridStamperFactory{})
	}
	if !o.Light {
		if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
			return nil, err
		}
	}
	se := webrtc.SettingEngine{}
	if o.Settings != nil {
		se = *o.Settings
	} else {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetIncludeLoopbackCandidate(true)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// LocalOffer makes pc's offer, applies it and waits for every candidate:
// the complete offer a WHIP or WHEP POST carries.
func LocalOffer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// Offer sends pc's offer (with every candidate) to endpoint and applies the
// answer.
func Offer(ctx context.Context, endpoint string, pc *webrtc.PeerConnection, o Options) (*Session, error) {
	hc := o.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	sdp, err := LocalOffer(ctx, pc)
	if err != nil {
		return nil, err
	}
	if o.Offer != nil {
		sdp = o.Offer(sdp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(sdp))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	// The session's PATCH and DELETE carry the offer's credentials (RFC
	// 9725 §4.1: the server may require them on every request).
	auth := func(req *http.Request) {
		if o.Token != "" {
			req.Header.Set("Authorization", "Bearer "+o.Token)
		}
		for k, v := range o.Header {
			req.Header[k] = v
		}
		if o.Sign != nil {
			o.Sign(req.Header)
		}
	}
	auth(req)
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusCreated {
		return nil, &StatusError{Status: res.StatusCode, Body: string(body)}
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.Header.Get("Location") == "" {
		return nil, errors.New("the answer has no Location header")
	}
	// The session is where the POST ended up: a 307 (WHEP's load
	// balancing) moves it to another node.
	base := res.Request.URL
	answer := string(body)
	if o.Answer != nil {
		answer = o.Answer(answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return nil, fmt.Errorf("apply answer: %w", err)
	}
	return &Session{PC: pc, Location: base.ResolveReference(loc).String(), ETag: res.Header.Get("ETag"), Header: res.Header, http: hc, auth: auth}, nil
}

// Delete ends the session on the server (DELETE of its Location) and closes
// the PeerConnection.
func (s *Session) Delete(ctx context.Context) error {
	defer s.PC.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.Location, nil)
	if err != nil {
		return err
	}
	s.authorize(req)
	res, err := s.http.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNoContent {
		return &StatusError{Status: res.StatusCode}
	}
	return nil
}

// Patch sends a trickle-ICE fragment to the session.
func (s *Session) Patch(ctx context.Context, frag string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, s.Location, bytes.NewBufferString(frag))
	if err != nil {
		return nil, nil, err
	}
	s.authorize(req)
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	req.Header.Set("If-Match", s.ETag)
	res, err := s.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, body, nil
}

func (s *Session) authorize(req *http.Request) {
	if s.auth != nil {
		s.auth(req)
	}
}
