package webrtchttp

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/pion/sdp/v3"
)

// A session's shape is bounded: an offer with dozens of sections costs
// transceivers, tracks and goroutines for nothing a player needs (a
// simulcast publisher with audio, video and a data channel has 3), and
// candidates, each an ICE check, are bounded per session.
const (
	MaxMediaSections = 16
	MaxCandidates    = 64
)

// MaxBodyBytes bounds an offer or a PATCH body. Real offers are a few KiB;
// Chromium with every codec is under 10 KiB.
const MaxBodyBytes = 64 << 10

// ReadBody reads a request body of the given media type, at most
// MaxBodyBytes, and refuses an empty one.
func ReadBody(r *http.Request, contentType string) (string, *Error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(mt, contentType) {
		got := r.Header.Get("Content-Type")
		if got == "" {
			got = "none"
		}
		return "", Errorf(http.StatusUnsupportedMediaType, "Content-Type must be %s (got %s)", contentType, got)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return "", Errorf(http.StatusBadRequest, "reading the request body failed: %v", err)
	}
	if len(body) > MaxBodyBytes {
		return "", Errorf(http.StatusRequestEntityTooLarge, "the body is over %d KiB", MaxBodyBytes>>10)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return "", Errorf(http.StatusBadRequest, "the body is empty: send the %s", contentType)
	}
	return string(body), nil
}

// ReadOffer reads and parses an SDP offer (RFC 9725 §4.2). It checks what
// pion would otherwise answer with an obscure error or a hang: that the
// offer parses, has media, and multiplexes RTCP (RFC 8858 exclusive mux is
// what WebRTC requires; without it a server would wait forever for a second
// transport).
func ReadOffer(r *http.Request) (string, *sdp.SessionDescription, *Error) {
	body, herr := ReadBody(r, "application/sdp")
	if herr != nil {
		return "", nil, herr
	}
	parsed, err := ParseOffer(body)
	if err != nil {
		return "", nil, Errorf(http.StatusBadRequest, "%v", err)
	}
	return body, parsed, nil
}

// ParseOffer checks an SDP offer; its errors are sentences for the client.
func ParseOffer(body string) (*sdp.SessionDescription, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(body); err != nil {
		return nil, errors.New("the body is not a valid SDP offer: " + err.Error())
	}
	if len(d.MediaDescriptions) == 0 {
		return nil, errors.New("the SDP offer has no media sections (m= lines)")
	}
	if len(d.MediaDescriptions) > MaxMediaSections {
		return nil, fmt.Errorf("the SDP offer has %d media sections; a session takes at most %d", len(d.MediaDescriptions), MaxMediaSections)
	}
	if n := strings.Count(body, "a=candidate:"); n > MaxCandidates {
		return nil, fmt.Errorf("the SDP offer has %d candidates; a session takes at most %d", n, MaxCandidates)
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media == "application" {
			continue
		}
		if _, ok := m.Attribute("rtcp-mux"); !ok && m.MediaName.Port.Value != 0 {
			return nil, errors.New("the SDP offer's " + m.MediaName.Media + " section lacks a=rtcp-mux, which WebRTC requires")
		}
		if !hasICECredentials(&d, m) {
			return nil, errors.New("the SDP offer has no a=ice-ufrag/a=ice-pwd")
		}
		if _, ok := m.Attribute("fingerprint"); !ok {
			if _, ok := sessionAttr(&d, "fingerprint"); !ok {
				return nil, errors.New("the SDP offer has no a=fingerprint (DTLS is required)")
			}
		}
	}
	return &d, nil
}

func hasICECredentials(d *sdp.SessionDescription, m *sdp.MediaDescription) bool {
	_, u := m.Attribute("ice-ufrag")
	_, p := m.Attribute("ice-pwd")
	if u && p {
		return true
	}
	_, su := sessionAttr(d, "ice-ufrag")
	_, sp := sessionAttr(d, "ice-pwd")
	return su && sp
}

func sessionAttr(d *sdp.SessionDescription, key string) (string, bool) {
	for _, a := range d.Attributes {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}
