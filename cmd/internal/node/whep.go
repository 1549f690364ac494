package node

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/fanout/webrtcsub"
	"github.com/relaymesh/relaymesh/internal/rtc"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
)

// Viewer liveness: browsers send RTCP about once a second and consent
// checks every few; a viewer silent for 5 s is gone.
var viewerTimeouts = rtc.Timeouts{Disconnected: 3 * time.Second, Failed: 2 * time.Second, Keepalive: time.Second}

// whep creates viewer sessions (WHEP) on the streams of a registry.
type whep struct {
	// ensure, if set, makes an unknown stream available (a relay pulls it).
	ensure func(ctx context.Context, stream string) error
	// admit, if set, vets a request before anything is set up (a relay
	// child past -max-children is refused); release is called when the
	// session ends.
	admit          func(ctx context.Context, r *http.Request, stream string) (release func(), err error)
	reg            *fanout.Registry
	engine         *rtc.Engine
	reporter       *webrtcsub.Reporter
	connectTimeout time.Duration
	wg             sync.WaitGroup // session watchers
}

// create is the webrtchttp.CreateFunc for POST /whep/{stream}.
func (h *whep) create(ctx context.Context, r *http.Request, stream, offer string, parsed *sdp.SessionDescription) (_ string, _ *webrtchttp.Peer, err error) {
	release := func() {}
	if h.admit != nil {
		if release, err = h.admit(ctx, r, stream); err != nil {
			return "", nil, err
		}
		defer func() {
			if err != nil {
				release()
			}
		}()
	}
	s, ok := h.reg.Get(stream)
	if !ok && h.ensure != nil {
		if err := h.ensure(ctx, stream); err != nil {
			return "", nil, err
		}
		s, ok = h.reg.Get(stream)
	}
	if !ok {
		return "", nil, webrtchttp.Errorf(http.StatusNotFound, "stream %q is not being published on this node", stream)
	}
	tracks := s.Tracks()
	if len(tracks) == 0 {
		return "", nil, &webrtchttp.Error{Status: http.StatusServiceUnavailable, Message: fmt.Sprintf("stream %q has no tracks yet; retry in a moment", stream), RetryAfter: time.Second}
	}
	selected, err := matchTracks(parsed, tracks)
	if err != nil {
		return "", nil, err
	}
	codecs := make([]rtc.ViewerCodec, 0, len(selected))
	for _, t := range selected {
		codecs = append(codecs, rtc.ViewerCodec{Kind: webrtcsub.CodecType(t.Kind()), Codec: webrtcsub.Capability(t.Codec())})
	}
	api, err := h.engine.ViewerAPI(viewerTimeouts, codecs)
	if err != nil {
		return "", nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", nil, fmt.Errorf("new peer connection: %w", err)
	}
	peer := webrtchttp.NewPeer(pc)
	locals := make([]*webrtcsub.Track, 0, len(selected))
	prepare := func() error {
		for _, t := range selected {
			lt := webrtcsub.New(t, webrtcsub.Params{StreamID: stream, Reporter: h.reporter, WriteRTCP: pc.WriteRTCP})
			if _, err := pc.AddTrack(lt); err != nil {
				return fmt.Errorf("add %s track: %w", t.ID(), err)
			}
			locals = append(locals, lt)
		}
		return nil
	}
	answer, err := peer.Answer(ctx, offer, prepare)
	if err != nil {
		peer.Close()
		for _, lt := range locals {
			lt.Close()
		}
		return "", nil, err
	}
	peer.Watch(h.connectTimeout)
	// One watcher per session: the viewer leaves when the stream ends, and
	// the leg's goroutines are waited for once the peer has closed.
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		select {
		case <-s.Done():
			peer.Close()
		case <-peer.Done():
		}
		for _, lt := range locals {
			lt.Close()
		}
		release()
	}()
	return answer, peer, nil
}

// matchTracks picks, for each of the stream's tracks, whether the viewer
// receives it: a viewer with no section of a kind simply does not get that
// kind; a viewer whose sections of that kind have no compatible codec gets a
// 400 that names the stream's codec, not a black screen.
func matchTracks(offer *sdp.SessionDescription, tracks []*fanout.Track) ([]*fanout.Track, error) {
	var out []*fanout.Track
	receives := 0
	for _, t := range tracks {
		kind := t.Kind().String()
		c := t.Codec()
		sections, compatible := 0, false
		var theirs []string
		for _, m := range offer.MediaDescriptions {
			if m.MediaName.Media != kind {
				continue
			}
			if d := rtc.Direction(m); d != "recvonly" && d != "sendrecv" {
				continue
			}
			sections++
			for _, o := range rtc.OfferedCodecs(m) {
				theirs = append(theirs, strings.TrimPrefix(o.MimeType, kind+"/"))
				if rtc.Compatible(o, c.MimeType, c.ClockRate, c.Fmtp) {
					compatible = true
				}
			}
		}
		if sections == 0 {
			continue
		}
		receives++
		if !compatible {
			return nil, webrtchttp.Errorf(http.StatusBadRequest,
				"this stream's %s is %s; the offer has no compatible codec (it offers %s)", kind, describe(c), strings.Join(dedupe(theirs), ", "))
		}
		out = append(out, t)
	}
	if receives == 0 {
		return nil, webrtchttp.Errorf(http.StatusBadRequest, "the offer receives no audio or video (no recvonly or sendrecv section); to publish, POST to /whip/ instead")
	}
	return out, nil
}

func describe(c fanout.Codec) string {
	name := c.MimeType[strings.IndexByte(c.MimeType, '/')+1:]
	if strings.EqualFold(name, "H264") {
		return fmt.Sprintf("H264 (profile-level-id=%s, packetization-mode=1)", rtc.FmtpValue(c.Fmtp, "profile-level-id", "42001f"))
	}
	if c.Fmtp != "" && strings.EqualFold(name, "VP9") {
		return "VP9 (" + c.Fmtp + ")"
	}
	return name
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] && s != "rtx" && s != "red" && s != "ulpfec" && s != "" {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return []string{"nothing usable"}
	}
	return out
}
