// Package whep serves WHEP viewers (draft-ietf-wish-whep) and child relays
// from a node's fanout registry: it matches a viewer's offer to the
// stream's tracks, answers with exactly the stream's codecs, and feeds each
// track through an egress leg. It is the mirror of ingest/whip.
package whep

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/fanout/egress"
	"github.com/relaymesh/relaymesh/internal/codec"
	"github.com/relaymesh/relaymesh/internal/errs"
	"github.com/relaymesh/relaymesh/internal/rtc"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
)

// Viewer liveness: browsers send RTCP about once a second and consent
// checks every few; a viewer silent for 5 s is gone.
var viewerTimeouts = rtc.Timeouts{Disconnected: 3 * time.Second, Failed: 2 * time.Second, Keepalive: time.Second}

// The ways a viewer is refused; errors read as a sentence for the viewer
// and are one of these under errors.Is. The HTTP edge maps them to codes.
var (
	// ErrNotFound: the stream is not carried here and cannot be pulled.
	ErrNotFound = errors.New("stream not found")
	// ErrNotReady: the stream exists but has no tracks yet; retry soon.
	ErrNotReady = errors.New("stream not ready")
	// ErrOffer: the offer cannot receive this stream (no section, or no
	// codec that carries the stream's).
	ErrOffer = errors.New("offer cannot receive the stream")
)

// Params configures a Server.
type Params struct {
	Registry *fanout.Registry
	Engine   *rtc.Engine
	// ConnectTimeout closes a viewer that has not connected by then.
	ConnectTimeout time.Duration
	// Ensure, if set, makes a stream this node does not carry available
	// (a relay pulls it from its parent). Its errors refuse the viewer.
	Ensure func(ctx context.Context, stream string) error
	// Admit, if set, vets a request before anything is set up (a relay
	// child past -max-children is refused); release is called once the
	// session ends.
	Admit func(ctx context.Context, r *http.Request, stream string) (release func(), err error)
	// Link, if set, tells a child relay's link from a viewer.
	Link func(r *http.Request) bool
}

// Server creates viewer sessions. Lifecycle: New → Create per POST → Close,
// after every session has been closed (it waits for their watchers).
type Server struct {
	p        Params
	reporter *egress.Reporter
	writers  *fanout.Writers // the sessions' writers, one a core (fanout/writers.go)
	wg       sync.WaitGroup  // session watchers
}

// New makes a Server; it starts the sender-report goroutine.
func New(p Params) *Server {
	if p.ConnectTimeout <= 0 {
		p.ConnectTimeout = 15 * time.Second
	}
	// Each writer sends its turn's bursts in one go (internal/gso's Outbox)
	// when the engine batches. Four a core: on a saturated core the
	// writers' share of it goes by their number among the runnable
	// goroutines (pion's included), and with one a core they fell behind
	// at 600 viewers of 2 Mbit/s, where four keep up (loadtest -capacity).
	var sender func() fanout.Sender
	if p.Engine != nil && p.Engine.Outbox() != nil {
		sender = func() fanout.Sender { return p.Engine.Outbox() }
	}
	return &Server{p: p, reporter: egress.NewReporter(time.Second), writers: fanout.NewWriters(4*runtime.GOMAXPROCS(0), sender)}
}

// Close waits for the sessions' watchers and stops the reporter.
func (h *Server) Close() {
	h.wg.Wait()
	h.reporter.Close()
	h.writers.Close()
}

// Create is the webrtchttp.CreateFunc for POST /whep/{stream}.
func (h *Server) Create(ctx context.Context, r *http.Request, stream, offer string, parsed *sdp.SessionDescription) (_ string, _ *webrtchttp.Peer, err error) {
	release := func() {}
	if h.p.Admit != nil {
		if release, err = h.p.Admit(ctx, r, stream); err != nil {
			return "", nil, err
		}
		defer func() {
			if err != nil {
				release()
			}
		}()
	}
	s, ok := h.p.Registry.Get(stream)
	if !ok && h.p.Ensure != nil {
		if err := h.p.Ensure(ctx, stream); err != nil {
			return "", nil, err
		}
		s, ok = h.p.Registry.Get(stream)
	}
	if !ok {
		return "", nil, errs.Errorf(ErrNotFound, "stream %q is not being published on this node", stream)
	}
	tracks := s.Tracks()
	if len(tracks) == 0 {
		return "", nil, errs.Errorf(ErrNotReady, "stream %q has no tracks yet; retry in a moment", stream)
	}
	selected, err := matchTracks(parsed, fanout.Groups(tracks))
	if err != nil {
		return "", nil, err
	}
	rid, err := chooseLayer(r, selected)
	if err != nil {
		return "", nil, err
	}
	codecs := make([]rtc.ViewerCodec, 0, len(selected))
	for _, g := range selected {
		t := g.Layers[0]
		codecs = append(codecs, rtc.ViewerCodec{Kind: rtc.CodecType(t.Kind()), Codec: rtc.Capability(t.Codec())})
	}
	// A viewer whose simulcast layer follows its bandwidth gets a
	// bandwidth estimator, made with the PeerConnection.
	var bwe cc.BandwidthEstimator
	var onBWE func(cc.BandwidthEstimator)
	link := h.p.Link != nil && h.p.Link(r)
	for _, g := range selected {
		// A child relay's link never follows its own estimate: one that
		// dipped on a busy node would lower every viewer below it. It
		// takes every layer (link.go), or else the top one.
		if g.Simulcast() && rid == "" && !link {
			onBWE = func(e cc.BandwidthEstimator) { bwe = e }
		}
	}
	api, eg, err := h.p.Engine.ViewerAPI(viewerTimeouts, codecs, onBWE, parsed)
	if err != nil {
		return "", nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", nil, fmt.Errorf("new peer connection: %w", err)
	}
	peer := webrtchttp.NewPeer(pc)
	// One writer for the viewer's legs, which writes what it drains as
	// one burst to the viewer's address (fanout/session.go).
	var batch fanout.Batch
	pb := h.p.Engine.Batch(pc, eg)
	if pb != nil {
		batch = pb
	} else {
		eg = nil // nothing would open its bursts or follow the ICE pair
	}
	// Its queue holds a subscriber's worth per track it may carry at
	// once, and one more for a simulcast leg's switch.
	carried := 1
	for _, g := range selected {
		carried += len(g.Layers)
	}
	// A session the node's egress sends goes to the shared writers
	// (fanout/writers.go): its writes never wait on the viewer (UDP). One
	// pion may send over ICE-TCP keeps a goroutine of its own, which a
	// viewer's full TCP window may hold up without holding up the others.
	// A viewer's audio rides with its video frames (fanout/session.go); a
	// relay link's does not, or each hop would add the wait.
	var sess *fanout.Session
	if eg != nil && h.p.Engine.TCPAddr() == nil {
		sess = fanout.NewSessionIn(h.writers, carried*fanout.DefaultQueueLen, batch)
		if !link {
			sess.Ride()
		}
	} else {
		sess = fanout.NewSession(carried*fanout.DefaultQueueLen, batch)
	}
	legs := make([]*egress.Leg, 0, len(selected))
	prepare := func() error {
		for _, g := range selected {
			lp := egress.Params{StreamID: stream, Reporter: h.reporter, WriteRTCP: pc.WriteRTCP, Bandwidth: bwe, Session: sess, Egress: eg}
			var gl []*egress.Leg
			switch layers := linkLayers(g, receiving(parsed, g.Kind.String())); {
			case link && layers != nil:
				for _, t := range layers {
					gl = append(gl, egress.New(t, lp))
				}
			case g.Simulcast():
				gl = append(gl, egress.NewLayered(g, rid, lp))
			default:
				gl = append(gl, egress.New(g.Layers[0], lp))
			}
			for _, l := range gl {
				legs = append(legs, l)
				if _, err := pc.AddTrack(l); err != nil {
					return fmt.Errorf("add %s track: %w", l.ID(), err)
				}
			}
		}
		// A section the stream has nothing for is answered inactive, not
		// sendonly with no track (a link offers more video sections than
		// a stream without layers fills).
		for _, tr := range pc.GetTransceivers() {
			if s := tr.Sender(); s == nil || s.Track() == nil {
				if err := tr.Stop(); err != nil {
					return fmt.Errorf("stop an unused transceiver: %w", err)
				}
			}
		}
		return nil
	}
	answer, err := peer.Answer(ctx, offer, prepare)
	if err != nil {
		peer.Close()
		for _, l := range legs {
			l.Close()
		}
		sess.Close()
		if pb != nil {
			pb.Close()
		}
		return "", nil, err
	}
	for _, l := range legs {
		if l.Layered() {
			peer.AddExtension("layer", layerRel, layerHandler(l))
		}
	}
	peer.Watch(h.p.ConnectTimeout)
	// One watcher per session: the viewer leaves when the stream ends, and
	// the legs' goroutines are waited for once the peer has closed.
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		select {
		case <-s.Done():
			peer.Close()
		case <-peer.Done():
		}
		for _, l := range legs {
			l.Close()
		}
		sess.Close()
		if pb != nil {
			pb.Close()
		}
		release()
	}()
	return answer, peer, nil
}

// matchTracks picks, for each of the stream's tracks, whether the viewer
// receives it: a viewer with no section of a kind simply does not get that
// kind; a viewer whose sections of that kind have no compatible codec gets a
// 400 that names the stream's codec, not a black screen.
func matchTracks(offer *sdp.SessionDescription, groups []fanout.Group) ([]fanout.Group, error) {
	var out []fanout.Group
	receives := 0
	for _, g := range groups {
		t := g.Layers[0] // a group's layers share the codec
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
				if codec.Compatible(o.Codec(), c) {
					compatible = true
				}
			}
		}
		if sections == 0 {
			continue
		}
		receives++
		if !compatible {
			return nil, errs.Errorf(ErrOffer,
				"this stream's %s is %s; the offer has no compatible codec (it offers %s)", kind, codec.Describe(c), strings.Join(dedupe(theirs), ", "))
		}
		out = append(out, g)
	}
	if receives == 0 {
		return nil, errs.Errorf(ErrOffer, "the offer receives no audio or video (no recvonly or sendrecv section); to publish, POST to /whip/ instead")
	}
	return out, nil
}

// chooseLayer reads the simulcast layer a viewer pins (?layer=RID), ""
// for automatic. A RID the stream's video does not have is refused with
// the ones it has; on a stream without layers the choice is moot.
func chooseLayer(r *http.Request, groups []fanout.Group) (string, error) {
	rid := r.URL.Query().Get("layer")
	if rid == "" || rid == "auto" {
		return "", nil
	}
	for _, g := range groups {
		if !g.Simulcast() {
			continue
		}
		if g.Layer(rid) != nil {
			return rid, nil
		}
		var have []string
		for _, t := range g.Layers {
			have = append(have, t.Layer())
		}
		return "", errs.Errorf(ErrOffer, "this stream has no layer %q; its layers are %s (or auto)", rid, strings.Join(have, ", "))
	}
	return "", nil
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
