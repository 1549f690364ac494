package rtsp

import (
	"context"
	"errors"
	"strings"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest"
)

// readStream serves one fanout stream to RTSP readers (DESCRIBE/PLAY:
// VLC, ffplay, NVRs): a gortsplib stream fed by one fanout subscriber per
// track. It lives as long as the fanout stream.
type readStream struct {
	st     *gortsplib.ServerStream
	source *fanout.Stream
	subs   []*fanout.Subscriber
	video  []*fanout.Track
}

// writer is the fanout.Writer of one read track.
type writer struct {
	st    *gortsplib.ServerStream
	media *description.Media
}

func (w *writer) WritePacket(p *fanout.Packet) error {
	pkt := rtpPacket(p)
	pkt.PayloadType = w.media.Formats[0].PayloadType()
	return w.st.WritePacketRTP(w.media, &pkt)
}

// reading returns the read stream of name, making it on first use.
func (s *Server) reading(name string) (*readStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs := s.reads[name]; rs != nil {
		return rs, nil
	}
	src, ok := s.p.Registry.Get(name)
	if !ok {
		return nil, errNoStream
	}
	rs := &readStream{source: src}
	desc := &description.Session{Title: name}
	var medias []*description.Media
	var tracks []*fanout.Track
	top, _ := fanout.TopLayers(src.Tracks()) // a simulcast source's best picture
	for i, t := range top {
		f := formatOf(t.Codec(), uint8(96+i))
		if f == nil {
			continue
		}
		typ := description.MediaTypeVideo
		if t.Kind() == fanout.KindAudio {
			typ = description.MediaTypeAudio
		} else {
			rs.video = append(rs.video, t)
		}
		m := &description.Media{Type: typ, Formats: []format.Format{f}}
		medias, tracks = append(medias, m), append(tracks, t)
	}
	if len(medias) == 0 {
		return nil, errors.New("the stream has no track RTSP readers can take")
	}
	desc.Medias = medias
	rs.st = &gortsplib.ServerStream{Server: s.srv, Desc: desc}
	if err := rs.st.Initialize(); err != nil {
		return nil, err
	}
	for i, t := range tracks {
		if sub, err := t.Subscribe(&writer{st: rs.st, media: medias[i]}); err == nil {
			rs.subs = append(rs.subs, sub)
		}
	}
	s.reads[name] = rs
	s.wg.Add(1)
	go s.endRead(name, rs)
	return rs, nil
}

// endRead closes a read stream when its fanout stream ends or the server
// closes, which disconnects its readers.
func (s *Server) endRead(name string, rs *readStream) {
	defer s.wg.Done()
	select {
	case <-rs.source.Done():
	case <-s.closing:
	}
	s.mu.Lock()
	if s.reads[name] == rs {
		delete(s.reads, name)
	}
	s.mu.Unlock()
	for _, sub := range rs.subs {
		sub.Close()
	}
	rs.st.Close()
}

var errNoStream = errors.New("no such stream on this node")

// OnDescribe answers with the stream's tracks.
func (s *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := s.mayRead(ctx.Conn, ctx.Request, ctx.Path, ctx.Query); err != nil {
		return res, nil, err
	}
	rs, err := s.reading(strings.Trim(ctx.Path, "/"))
	if err != nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, rs.st, nil
}

// setupRead is SETUP for a reader (a client may SETUP without DESCRIBE).
func (s *Server) setupRead(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := s.mayRead(ctx.Conn, ctx.Request, ctx.Path, ctx.Query); err != nil {
		return res, nil, err
	}
	rs, err := s.reading(strings.Trim(ctx.Path, "/"))
	if err != nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, rs.st, nil
}

// OnPlay starts a reader; its decoder needs a keyframe, which is asked of
// the publisher (coalesced with every other request).
func (s *Server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	s.mu.Lock()
	rs := s.reads[strings.Trim(ctx.Path, "/")]
	s.mu.Unlock()
	if rs != nil {
		for _, t := range rs.video {
			t.RequestKeyframe()
		}
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// formatOf is the RTSP format of a fanout codec, nil when RTSP readers
// cannot take it.
func formatOf(c fanout.Codec, pt uint8) format.Format {
	switch strings.ToLower(c.MimeType) {
	case "video/h264":
		return &format.H264{PayloadTyp: pt, PacketizationMode: 1}
	case "video/h265":
		return &format.H265{PayloadTyp: pt}
	case "video/vp8":
		return &format.VP8{PayloadTyp: pt}
	case "video/vp9":
		return &format.VP9{PayloadTyp: pt}
	case "video/av1":
		return &format.AV1{PayloadTyp: pt}
	case "audio/opus":
		return &format.Opus{PayloadTyp: pt, ChannelCount: max(int(c.Channels), 2)}
	}
	return nil
}

// mayRead asks the read gate, before anything is read or set up, whether
// the client may read the stream at path: 401 or 403 (RFC 7826 §19.1.1)
// with a log line naming the cause when not.
func (s *Server) mayRead(conn *gortsplib.ServerConn, req *base.Request, path, query string) (*base.Response, error) {
	if s.p.ReadAccess == nil {
		return nil, nil
	}
	a := ingest.Access{Protocol: "rtsp", Stream: strings.Trim(path, "/"), Token: tokenOf(req, query), Client: conn.NetConn().RemoteAddr().String(), Query: query}
	if err := s.p.ReadAccess(context.Background(), a); err != nil {
		s.p.Log.Warn("rtsp read refused: "+err.Error(), "stream", a.Stream, "remote", a.Client)
		res := &base.Response{StatusCode: statusOf(err)}
		if res.StatusCode == base.StatusUnauthorized {
			res.Header = base.Header{"WWW-Authenticate": base.HeaderValue{`Basic realm="relaymesh"`}}
		}
		return res, err
	}
	return nil, nil
}
