// Package rtsp takes RTSP publishers (ANNOUNCE/RECORD over TCP or UDP, as
// ffmpeg, GStreamer and camera gateways push) into the fanout, where WHEP
// viewers, relays and recorders use them like any other source. Built on
// bluenviron/gortsplib.
package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest"
	"github.com/relaymesh/relaymesh/internal/codec"
	"github.com/relaymesh/relaymesh/internal/netlimit"
)

// Params configures a Server.
type Params struct {
	// Registry is where readers find streams.
	Registry *fanout.Registry
	// Gate decides on every publisher (name, credentials, cluster claim);
	// the token is ?token= on the URL or the Basic password.
	Gate *ingest.Gate
	// ReadAccess, if set, decides whether a reader (DESCRIBE, SETUP) may
	// read a stream; its errors are ingest.ErrUnauthorized or ErrForbidden.
	ReadAccess func(ctx context.Context, a ingest.Access) error
	// Reserve, if set, takes a session slot for a publisher's client
	// address before its tracks are made; release gives it back.
	Reserve func(client string) (release func(), err error)
	// Addr is the RTSP (TCP) address; UDPRTP, if set, an even-numbered
	// UDP address for RTP transport (RTCP on the next port).
	Addr, UDPRTP string
	// MaxConns bounds open connections (more are closed at once); zero
	// means 2000.
	MaxConns int
	// OpusBitrate is the bitrate AAC is transcoded to; zero: 128 kbit/s.
	OpusBitrate int
	// ReadTimeout ends a publisher that sends nothing for this long (a
	// camera gone silent); zero means 10 s.
	ReadTimeout time.Duration
	Log         *slog.Logger
}

// Server is the RTSP listener. Lifecycle: New (listening) → Close.
type Server struct {
	p   Params
	srv *gortsplib.Server

	mu      sync.Mutex
	pubs    map[*gortsplib.ServerSession]*publisher
	reads   map[string]*readStream              // by stream name
	readers map[*gortsplib.ServerSession]func() // a reader session's slot release

	closing chan struct{} // closed by Close: read streams end
	wg      sync.WaitGroup
}

// publisher is one RTSP session that publishes.
type publisher struct {
	stream  string
	pub     *fanout.Publication
	tracks  []*mediaIn
	release func() // the session slot
}

// mediaIn feeds one announced media into a fanout track.
type mediaIn struct {
	media  *description.Media
	format format.Format
	track  *fanout.Track
	params *codec.ParamSets // H.264 and H.265
	aac    *aacIn           // AAC only: transcoded to Opus
}

// New starts listening.
func New(p Params) (*Server, error) {
	s := &Server{p: p, pubs: map[*gortsplib.ServerSession]*publisher{}, reads: map[string]*readStream{},
		readers: map[*gortsplib.ServerSession]func(){}, closing: make(chan struct{})}
	if p.ReadTimeout <= 0 {
		p.ReadTimeout = 10 * time.Second
	}
	if p.MaxConns <= 0 {
		p.MaxConns = 2000
	}
	// ReadTimeout ends a connection silent that long, handshake included;
	// past MaxConns, connections are closed at once.
	s.srv = &gortsplib.Server{Handler: s, RTSPAddress: p.Addr, ReadTimeout: p.ReadTimeout, WriteTimeout: 10 * time.Second,
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			return &netlimit.CapListener{Listener: l, Max: p.MaxConns}, nil
		}}
	if p.UDPRTP != "" {
		host, port, err := net.SplitHostPort(p.UDPRTP)
		if err != nil {
			return nil, fmt.Errorf("-rtsp-udp %q: %w", p.UDPRTP, err)
		}
		var n int
		if _, err := fmt.Sscan(port, &n); err != nil || n%2 != 0 {
			return nil, fmt.Errorf("-rtsp-udp %q: want an even port (RTCP takes the next one)", p.UDPRTP)
		}
		s.srv.UDPRTPAddress, s.srv.UDPRTCPAddress = p.UDPRTP, net.JoinHostPort(host, fmt.Sprint(n+1))
	}
	if err := s.srv.Start(); err != nil {
		return nil, fmt.Errorf("rtsp on %s: %w", p.Addr, err)
	}
	return s, nil
}

// Addr is the RTSP listener's address.
func (s *Server) Addr() net.Addr { return s.srv.NetListener().Addr() }

// Close stops listening and ends every session and read stream.
func (s *Server) Close() {
	close(s.closing)
	s.wg.Wait()
	s.srv.Close()
}

func refuse(code base.StatusCode, log *slog.Logger, msg string, args ...any) (*base.Response, error) {
	log.Warn("rtsp publish refused: "+msg, args...)
	res := &base.Response{StatusCode: code}
	if code == base.StatusUnauthorized {
		// A client with credentials in its URL sends them once challenged
		// (RFC 7826 §19.1.1; RFC 7617).
		res.Header = base.Header{"WWW-Authenticate": base.HeaderValue{`Basic realm="relaymesh"`}}
	}
	return res, errors.New(msg)
}

// OnAnnounce checks the name, the token and the codecs, claims the name
// and creates the stream's tracks.
func (s *Server) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	name := strings.Trim(ctx.Path, "/")
	log := s.p.Log.With("stream", name, "remote", ctx.Conn.NetConn().RemoteAddr().String())
	a := ingest.Access{Protocol: "rtsp", Stream: name, Token: tokenOf(ctx.Request, ctx.Query), Client: ctx.Conn.NetConn().RemoteAddr().String(), Query: ctx.Query}
	if err := s.p.Gate.Check(context.Background(), a); err != nil {
		return refuse(statusOf(err), log, err.Error())
	}
	release := func() {}
	if s.p.Reserve != nil {
		r, err := s.p.Reserve(a.Client)
		if err != nil {
			return refuse(base.StatusServiceUnavailable, log, err.Error())
		}
		release = r
	}
	ok := false
	defer func() {
		if !ok {
			release()
		}
	}()
	var tracks []*mediaIn
	for _, m := range ctx.Description.Medias {
		t, why := mapMedia(m, s.p.OpusBitrate)
		if t == nil {
			log.Warn("rtsp track dropped", "media", m.Type, "why", why)
			continue
		}
		tracks = append(tracks, t)
	}
	if len(tracks) == 0 {
		return refuse(base.StatusUnsupportedMediaType, log, "no track can reach WebRTC viewers (H.264, H.265, VP8, VP9, AV1, Opus, G.711 and AAC can)")
	}
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	pub, err := s.p.Gate.Publish(cctx, a)
	cancel()
	if err != nil {
		closeTracks(tracks)
		return refuse(statusOf(err), log, err.Error())
	}
	p := &publisher{stream: name, pub: pub, release: release}
	ids := ingest.TrackIDs{}
	for i, t := range tracks {
		c := codec.OfRTSP(t.format)
		if t.aac != nil {
			c = codec.Opus
		}
		kind := fanout.KindVideo
		if t.media.Type == description.MediaTypeAudio {
			kind = fanout.KindAudio
		}
		t.track = pub.Track(fanout.TrackParams{ID: ids.Next(kind), Kind: kind, Codec: c})
		if t.track == nil {
			pub.End()
			closeTracks(tracks)
			return refuse(base.StatusInternalServerError, log, fmt.Sprintf("track %d could not be created", i))
		}
		p.tracks = append(p.tracks, t)
	}
	pub.Settle()
	s.mu.Lock()
	s.pubs[ctx.Session] = p
	s.mu.Unlock()
	log.Info("publisher joined", "role", "publisher", "via", "rtsp", "tracks", len(p.tracks))
	ok = true
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup accepts a publisher's transports, or gives a reader its stream.
func (s *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if res, err := s.readerSlot(ctx.Session, ctx.Conn); err != nil {
		return res, nil, err
	}
	return s.setupRead(ctx)
}

// OnRecord starts the flow: each packet goes to its fanout track.
func (s *Server) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	s.mu.Lock()
	p := s.pubs[ctx.Session]
	s.mu.Unlock()
	if p == nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("RECORD before ANNOUNCE")
	}
	for _, t := range p.tracks {
		t := t
		ctx.Session.OnPacketRTP(t.media, t.format, func(pkt *rtp.Packet) { t.write(pkt) })
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (t *mediaIn) write(pkt *rtp.Packet) {
	if t.aac != nil {
		t.aac.write(t.track, pkt)
		return
	}
	if t.params == nil {
		t.track.Write(&fanout.Packet{Header: pkt.Header, Payload: pkt.Payload})
		return
	}
	for _, q := range t.params.Process(pkt) {
		t.track.Write(&fanout.Packet{Header: q.Header, Payload: q.Payload})
	}
}

// rtpPacket is a fanout packet as an RTP packet for a reader; the header
// is copied (gortsplib sets fields per reader), the payload shared.
func rtpPacket(p *fanout.Packet) rtp.Packet {
	return rtp.Packet{Header: p.Header.Clone(), Payload: p.Payload}
}

// readerSlot takes a session slot for a reader's session, once (a reader
// SETUPs each track).
func (s *Server) readerSlot(sess *gortsplib.ServerSession, conn *gortsplib.ServerConn) (*base.Response, error) {
	if s.p.Reserve == nil {
		return nil, nil
	}
	s.mu.Lock()
	_, held := s.readers[sess]
	s.mu.Unlock()
	if held {
		return nil, nil
	}
	release, err := s.p.Reserve(conn.NetConn().RemoteAddr().String())
	if err != nil {
		s.p.Log.Warn("rtsp read refused: "+err.Error(), "remote", conn.NetConn().RemoteAddr().String())
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, err
	}
	s.mu.Lock()
	s.readers[sess] = release
	s.mu.Unlock()
	return nil, nil
}

// OnSessionClose ends a publisher's stream (it lingers for a reconnect) and
// gives back a session's slot.
func (s *Server) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	p := s.pubs[ctx.Session]
	delete(s.pubs, ctx.Session)
	release := s.readers[ctx.Session]
	delete(s.readers, ctx.Session)
	s.mu.Unlock()
	if release != nil {
		release()
	}
	if p != nil {
		p.pub.End()
		closeTracks(p.tracks)
		p.release()
		s.p.Log.Info("publisher left", "stream", p.stream, "role", "publisher", "via", "rtsp", "err", ctx.Error)
	}
}

// closeTracks frees what the tracks hold outside Go: the AAC transcoders
// (FFmpeg and libopus state), whether or not the publish went through.
func closeTracks(tracks []*mediaIn) {
	for _, t := range tracks {
		if t.aac != nil {
			t.aac.tr.Close()
		}
	}
}

// tokenOf is the credential an RTSP client presents: ?token= on the URL,
// or the password of Basic authentication (RFC 7826 §19.1.1).
func tokenOf(req *base.Request, query string) string {
	if q, err := url.ParseQuery(query); err == nil && q.Get("token") != "" {
		return q.Get("token")
	}
	if h := req.Header["Authorization"]; len(h) > 0 {
		r := http.Request{Header: http.Header{"Authorization": h}}
		if _, pass, found := r.BasicAuth(); found {
			return pass
		}
	}
	return ""
}

// statusOf is the RTSP status (RFC 7826 §17) of a refused publish.
func statusOf(err error) base.StatusCode {
	switch {
	case errors.Is(err, fanout.ErrBadName), errors.Is(err, ingest.ErrBadPriority):
		return base.StatusBadRequest
	case errors.Is(err, ingest.ErrUnauthorized):
		return base.StatusUnauthorized
	case errors.Is(err, ingest.ErrForbidden):
		return base.StatusForbidden
	case errors.Is(err, ingest.ErrClaimed), errors.Is(err, ingest.ErrBusy):
		return base.StatusCode(http.StatusConflict)
	case errors.Is(err, ingest.ErrUnavailable):
		return base.StatusServiceUnavailable
	}
	return base.StatusInternalServerError
}

// mapMedia picks the first format of m that WebRTC viewers can receive,
// AAC through the transcoder.
func mapMedia(m *description.Media, opusBitrate int) (*mediaIn, string) {
	var seen []string
	for _, f := range m.Formats {
		switch f := f.(type) {
		case *format.MPEG4Audio:
			a, err := newAACIn(f, opusBitrate)
			if err != nil {
				seen = append(seen, "AAC ("+err.Error()+")")
				continue
			}
			return &mediaIn{media: m, format: f, aac: a}, ""
		case *format.H264:
			return &mediaIn{media: m, format: f, params: codec.NewParamSets(f.SPS, f.PPS)}, ""
		case *format.H265:
			return &mediaIn{media: m, format: f, params: codec.NewH265ParamSets(f.VPS, f.SPS, f.PPS)}, ""
		case *format.VP8, *format.VP9, *format.AV1, *format.Opus:
			return &mediaIn{media: m, format: f}, ""
		case *format.G711:
			if codec.OfRTSP(f).MimeType != "" {
				return &mediaIn{media: m, format: f}, ""
			}
		}
		seen = append(seen, formatName(f))
	}
	return nil, fmt.Sprintf("%s cannot reach WebRTC viewers", strings.Join(seen, ", "))
}

// formatName names a format for a log line: its rtpmap ("MPV/90000"), or
// its payload type when it has none.
func formatName(f format.Format) string {
	if m := f.RTPMap(); m != "" {
		return m
	}
	return fmt.Sprintf("payload type %d", f.PayloadType())
}
