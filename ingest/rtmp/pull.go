package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/relaymesh/relaymesh/fanout"
)

// PullParams configures Pull.
type PullParams struct {
	AudioBitrate int // Opus bitrate for transcoded AAC; zero means 128 kbit/s
	Log          *slog.Logger
	// Silence ends the pull when the server sends nothing for this long,
	// and bounds the connection's setup; zero means 10 s.
	Silence time.Duration
	// TLS configures rtmps:// connections; nil verifies the server against
	// the system's roots.
	TLS *tls.Config
}

// ErrSourceEnded is returned by Pull when the server says the stream
// stopped (NetStream.Play.Stop, UnpublishNotify, Complete) or closes the
// connection after media.
var ErrSourceEnded = errors.New("the source stopped publishing")

// Pull plays an rtmp:// or rtmps://HOST[:PORT]/APP/STREAM URL, as ffplay or
// a CDN edge would, and publishes what it carries into pub exactly as a
// pushed RTMP stream is published: AAC transcoded to Opus, parameter sets
// before keyframes, Enhanced RTMP codecs. The RTMP client (handshake,
// chunk streams, connect/createStream/play with Enhanced RTMP's fourCcList,
// acknowledgements, RTMPS) is bluenviron/gortmplib's. It ends pub and
// returns when the server ends the stream or fails, when it goes silent,
// or when ctx ends.
func Pull(ctx context.Context, rawURL string, pub *fanout.Publication, p PullParams) error {
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.AudioBitrate == 0 {
		p.AudioBitrate = 128000
	}
	if p.Silence == 0 {
		p.Silence = 10 * time.Second
	}
	target, err := parsePullURL(rawURL)
	if err != nil {
		pub.End()
		return err
	}
	pb := newPublisher(target.Fragment, pub, p.Log, p.AudioBitrate)
	defer pb.close()

	setup, cancel := context.WithTimeout(ctx, p.Silence)
	defer cancel()
	c := &gortmplib.Client{URL: target, TLSConfig: p.TLS, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	if err := c.Initialize(setup); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("rtmp handshake and play of %s: %w", redact(target), err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close) // unblocks a read when ctx ends
	defer stop()

	conn := &statusConn{Client: c, silence: p.Silence}
	r := &gortmplib.Reader{Conn: conn}
	conn.extend()
	if err := r.Initialize(); err != nil {
		return pullEnd(ctx, fmt.Errorf("rtmp: reading the stream's tracks: %w", err), conn)
	}
	for _, t := range r.Tracks() {
		bind(r, t, pb)
	}
	for {
		conn.extend()
		if err := r.Read(); err != nil {
			return pullEnd(ctx, err, conn)
		}
	}
}

// pullEnd says why a pull ended: the caller's context, the source's own
// end, or the error.
func pullEnd(ctx context.Context, err error, conn *statusConn) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, ErrSourceEnded):
		return err
	case conn.media && (errors.Is(err, net.ErrClosed) || isEOF(err)):
		return fmt.Errorf("%w: the server closed the connection", ErrSourceEnded)
	}
	return fmt.Errorf("rtmp: %w", err)
}

func isEOF(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "connection reset"))
}

// bind routes one of the stream's tracks into the publisher's frame path.
// A track the publisher cannot carry to WebRTC is dropped with a log line.
func bind(r *gortmplib.Reader, t *gortmplib.Track, pb *publisher) {
	switch c := t.Codec.(type) {
	case *rtmpcodecs.H264:
		pb.h264Config(c.SPS, c.PPS)
		r.OnDataH264(t, func(pts, _ time.Duration, au [][]byte) {
			if sps, pps, ok := h264SetsOnly(au); ok {
				pb.h264Config(sps, pps)
				return
			}
			pb.h264(pts, h264.IsRandomAccess(au), au)
		})
	case *rtmpcodecs.H265:
		pb.h265Config(c.VPS, c.SPS, c.PPS)
		r.OnDataH265(t, func(pts, _ time.Duration, au [][]byte) {
			pb.h265(pts, h265.IsRandomAccess(au), au)
		})
	case *rtmpcodecs.AV1, *rtmpcodecs.VP9:
		if _, ok := c.(*rtmpcodecs.AV1); ok {
			pb.enhancedConfig("av01")
			r.OnDataAV1(t, func(pts time.Duration, tu [][]byte) {
				b, err := av1.Bitstream(tu).Marshal() // back to the low-overhead format the payloader takes
				if err != nil {
					pb.warn("vnalu", "rtmp AV1 temporal unit unreadable", "err", err)
					return
				}
				pb.enhancedFrame(pts, b)
			})
			return
		}
		pb.enhancedConfig("vp09")
		r.OnDataVP9(t, pb.enhancedFrame)
	case *rtmpcodecs.MPEG4Audio:
		asc, err := c.Config.Marshal()
		if err != nil {
			pb.warn("aconf", "rtmp AAC configuration unreadable", "err", err)
			return
		}
		pb.aacConfig(asc)
		r.OnDataMPEG4Audio(t, pb.aacAU)
	case *rtmpcodecs.Opus:
		pb.openOpus()
		r.OnDataOpus(t, pb.opus)
	default:
		pb.warn("codec", "rtmp track dropped: H.264, HEVC, AV1, VP9, AAC and Opus reach WebRTC viewers", "codec", fmt.Sprintf("%T", c))
	}
}

// h264SetsOnly reports whether an access unit is only parameter sets (a
// configuration the server sent again, for a new resolution).
func h264SetsOnly(au [][]byte) (sps, pps []byte, ok bool) {
	for _, n := range au {
		switch {
		case len(n) == 0:
		case h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS:
			sps = n
		case h264.NALUType(n[0]&0x1f) == h264.NALUTypePPS:
			pps = n
		default:
			return nil, nil, false
		}
	}
	return sps, pps, sps != nil && pps != nil
}

// statusConn is the client as gortmplib's Reader reads it, plus what the
// Reader passes over: the server's onStatus commands, which say the stream
// ended, and a read deadline renewed before each read, so a silent server
// ends the pull.
type statusConn struct {
	*gortmplib.Client
	silence time.Duration
	media   bool // a media message has arrived
}

func (s *statusConn) extend() { _ = s.NetConn().SetReadDeadline(time.Now().Add(s.silence)) }

func (s *statusConn) Read() (message.Message, error) {
	m, err := s.Client.Read()
	if err != nil {
		return nil, err
	}
	switch m := m.(type) {
	case *message.CommandAMF0:
		if m.Name == "onStatus" {
			if code := statusCode(m); strings.HasSuffix(code, ".Stop") || strings.HasSuffix(code, "UnpublishNotify") ||
				strings.HasSuffix(code, ".Complete") || strings.HasSuffix(code, ".StreamNotFound") || strings.HasSuffix(code, ".Failed") {
				return nil, fmt.Errorf("%w (%s)", ErrSourceEnded, code)
			}
		}
	case *message.Video, *message.Audio, *message.VideoExCodedFrames, *message.VideoExFramesX, *message.AudioExCodedFrames:
		s.media = true
	}
	return m, nil
}

// statusCode is the "code" of an onStatus command's info object.
func statusCode(m *message.CommandAMF0) string {
	for _, a := range m.Arguments {
		if obj, ok := a.(amf0.Object); ok {
			if v, ok := obj.GetString("code"); ok {
				return v
			}
		}
	}
	return fmt.Sprint(m.Arguments)
}

// parsePullURL checks rtmp[s]://host[:port]/app/stream[?query] and spells it
// as gortmplib takes it: the application is the first path element, the
// stream name the rest with the query (where servers expect tokens), as
// ffmpeg and OBS split them, carried in the fragment.
func parsePullURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return nil, fmt.Errorf("%q: only rtmp:// and rtmps:// URLs can be pulled", redactString(raw))
	}
	app, stream, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if app == "" || stream == "" || u.Host == "" {
		return nil, fmt.Errorf("%q: an RTMP URL names a host, an application and a stream: rtmp://HOST/APP/STREAM", redactString(raw))
	}
	if u.RawQuery != "" {
		stream += "?" + u.RawQuery
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/" + app, User: u.User, Fragment: stream}, nil
}

// redact is the URL without its query (tokens) and credentials, for logs
// and errors.
func redact(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }

func redactString(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host + u.Path
	}
	return raw
}
