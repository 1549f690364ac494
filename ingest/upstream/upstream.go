// Package upstream is a relay's link to its parent: it pulls a stream from
// a WHEP endpoint (an origin, another relay, or any external WHEP server)
// and publishes what it receives into the local registry, where viewers and
// child relays subscribe to it like to any other source.
//
// Feedback stops at this hop as everywhere (ARCHITECTURE.md): the link's
// own NACK generator and receiver reports talk to the parent; keyframe
// requests reach it through the fanout track's coalescer.
package upstream

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
	"github.com/relaymesh/relaymesh/internal/rtc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// ErrBusy is returned when the stream already has a source on this node.
var ErrBusy = errors.New("the stream already has a source on this node")

// Link liveness: a parent silent for 1.5 s (disconnected after 1 s, failed
// 0.5 s later) is gone, so the link is re-made within the mesh's 2 s
// failover budget.
var linkTimeouts = rtc.Timeouts{Disconnected: time.Second, Failed: 500 * time.Millisecond, Keepalive: 300 * time.Millisecond}

// Params configures a Puller.
type Params struct {
	Registry *fanout.Registry
	Engine   *rtc.Engine
	HTTP     *http.Client
	Log      *slog.Logger
	// NodeID names this node to its parents (the NodeHeader), which count
	// their relay children by it and refuse a loop.
	NodeID string
	// Links, if set, signs each request so a parent knows a member asks
	// (a closed cluster); Token, if set, is presented as the Bearer token
	// (a node's -read-token, for parents that guard reading).
	Links *LinkKeys
	Token string
}

// NodeHeader is the request header in which a relay names itself when it
// pulls from a parent.
const NodeHeader = "Relaymesh-Node"

// Puller makes upstream links. Lifecycle: New → Pull* → Close, after every
// link has been closed (Close waits for the read loops).
type Puller struct {
	p   Params
	api *webrtc.API
	wg  sync.WaitGroup
}

// New makes a Puller sharing the node's media port.
func New(p Params) (*Puller, error) {
	api, err := p.Engine.LinkAPI(linkTimeouts)
	if err != nil {
		return nil, err
	}
	if p.HTTP == nil {
		p.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	return &Puller{p: p, api: api}, nil
}

// Close waits for the read loops of closed links.
func (u *Puller) Close() { u.wg.Wait() }

// Link is one upstream connection. Its Done channel closes when the parent
// is lost or the link is closed.
type Link struct {
	sess *whipclient.Session
	pub  *fanout.Publication
	once sync.Once
	done chan struct{}
	url  string
}

// Done is closed when the link has ended.
func (l *Link) Done() <-chan struct{} { return l.done }

// URL is the parent's WHEP endpoint.
func (l *Link) URL() string { return l.url }

// Close ends the link: the parent's session is deleted and the local stream
// starts its reconnect grace, so its viewers stay while a new link is made.
// Idempotent, like Leave and Abandon; the first of them decides.
func (l *Link) Close() { l.end(l.pub.End, true) }

// Leave ends the link and the local stream at once: nobody is watching.
func (l *Link) Leave() { l.end(l.pub.EndNow, true) }

// Abandon ends the link to a parent that is dead, without the DELETE that
// could only wait for a timeout; the local stream starts its grace.
func (l *Link) Abandon() { l.end(l.pub.End, false) }

func (l *Link) end(endStream func(), tell bool) {
	l.once.Do(func() {
		if tell {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = l.sess.Delete(ctx)
			cancel()
		} else {
			_ = l.sess.PC.Close()
		}
		endStream()
		close(l.done)
	})
}

// Pull connects to the WHEP endpoint url and publishes what it receives as
// stream. It returns once the stream's tracks exist locally, so viewers can
// attach at once; media follows as soon as ICE and DTLS complete.
func (u *Puller) Pull(ctx context.Context, url, stream string) (*Link, error) {
	pub, err := u.p.Registry.Publish(stream)
	if errors.Is(err, fanout.ErrStreamBusy) {
		return nil, ErrBusy
	}
	if err != nil {
		return nil, err
	}
	return u.pull(ctx, url, stream, pub)
}

// PullStandby is Pull for a stream this node already carries from another
// parent: the new link's media is received but not delivered until it takes
// over, at its first keyframe, between two packets (fanout's standby).
// Live tells when it has; the old link is then closed by the caller.
func (u *Puller) PullStandby(ctx context.Context, url, stream string) (*Link, error) {
	pub, err := u.p.Registry.Standby(stream)
	if err != nil {
		return nil, err
	}
	l, err := u.pull(ctx, url, stream, pub)
	if err != nil {
		return nil, err
	}
	pub.SwitchAtKeyframe()
	return l, nil
}

// Live is closed once the link feeds the stream (at once for a Pull; for
// a PullStandby, once it has taken over).
func (l *Link) Live() <-chan struct{} { return l.pub.Live() }

// TakeOver makes a standby link feed the stream now, keyframe or not.
func (l *Link) TakeOver() { l.pub.Promote() }

func (u *Puller) pull(ctx context.Context, url, stream string, pub *fanout.Publication) (*Link, error) {
	pc, err := u.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		pub.End()
		return nil, err
	}
	// A video section per layer a simulcast source may have: the parent
	// sends each layer in one, and leaves the rest inactive.
	kinds := []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio}
	for range fanout.MaxLinkLayers {
		kinds = append(kinds, webrtc.RTPCodecTypeVideo)
	}
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			_ = pc.Close()
			pub.End()
			return nil, err
		}
	}
	legs := ingest.NewLegs(pc, &u.wg)
	hdr := http.Header{}
	if u.p.NodeID != "" {
		hdr.Set(NodeHeader, u.p.NodeID)
	}
	var sign func(http.Header)
	if u.p.Links != nil {
		sign = func(h http.Header) { h.Set(LinkHeader, u.p.Links.Sign(u.p.NodeID, stream, time.Now())) }
	}
	sess, err := whipclient.Offer(ctx, url, pc, whipclient.Options{HTTP: u.p.HTTP, Header: hdr, Token: u.p.Token, Sign: sign})
	if err != nil {
		_ = pc.Close()
		pub.End()
		return nil, fmt.Errorf("pull %s: %w", url, err)
	}
	link := &Link{sess: sess, pub: pub, done: make(chan struct{}), url: url}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			u.p.Log.Info("upstream lost", "stream", stream, "parent", url, "state", s.String())
			link.Close()
		}
	})
	var answer sdp.SessionDescription
	if err = answer.UnmarshalString(pc.RemoteDescription().SDP); err == nil {
		_, err = legs.Bind(&answer, pub, answeredSection)
	}
	if err != nil {
		link.Close()
		return nil, err
	}
	return link, nil
}

// answeredSection takes the one codec the parent answered with (a
// relaymesh parent answers with exactly the stream's codec).
func answeredSection(_ *webrtc.RTPTransceiver, m *sdp.MediaDescription) (ingest.Section, error) {
	codecs := rtc.OfferedCodecs(m)
	if len(codecs) == 0 || codecs[0].MimeType == "" {
		return ingest.Section{}, fmt.Errorf("the parent's %s section names no codec", m.MediaName.Media)
	}
	c := codecs[0]
	return ingest.Section{PLI: c.PLI, FIR: c.FIR, ID: layerID(m), Codec: fanout.Codec{
		MimeType: canonicalMime(c.MimeType), ClockRate: c.Clock, Channels: c.Channels, Fmtp: c.Fmtp}}, nil
}

// layerID is the track id a parent gave a section that carries one layer
// of a simulcast source (a=msid, RFC 8830: "stream video@h"), "" for any
// other section, whose track the link numbers as the parent did.
func layerID(m *sdp.MediaDescription) string {
	msid, _ := m.Attribute("msid")
	_, id, _ := strings.Cut(msid, " ")
	if _, rid := fanout.SplitLayer(id); rid == "" {
		return ""
	}
	return id
}

// canonicalMime spells a codec as pion does ("video/H264", "audio/opus"), so
// a stream's codec reads the same on every node.
func canonicalMime(m string) string {
	for _, c := range rtc.PublisherCodecs() {
		if strings.EqualFold(c.MimeType, m) {
			return c.MimeType
		}
	}
	return m
}
