// Package rtmp takes RTMP publishers (OBS, ffmpeg: rtmp://HOST:1935/live,
// stream key {stream}) into the fanout: H.264 from FLV/AVC becomes RTP
// (packetization-mode 1, SPS and PPS in-band before every IDR so late
// joiners decode), AAC is transcoded to Opus once for the stream, FLV
// timestamps are kept. Built on yutopp/go-rtmp.
package rtmp

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	gortmp "github.com/yutopp/go-rtmp"

	"github.com/relaymesh/relaymesh/ingest"
	"github.com/relaymesh/relaymesh/internal/netlimit"
)

// Params configures a Server.
type Params struct {
	// Gate decides on every publisher (name, credentials, cluster claim);
	// the token follows the stream key as ?token=.
	Gate *ingest.Gate
	// Reserve, if set, takes a session slot for a publisher's client
	// address before anything else; release gives it back.
	Reserve func(client string) (release func(), err error)
	Addr    string
	// MaxConns bounds open connections (more are closed at once); zero
	// means 2000. Idle ends a connection silent that long, the handshake
	// included; zero means 10 s.
	MaxConns int
	Idle     time.Duration
	// AudioBitrate is the Opus bitrate of transcoded AAC; zero: 128 kbit/s.
	AudioBitrate int
	Log          *slog.Logger
}

// Server is the RTMP listener. Lifecycle: New (listening) → Close.
type Server struct {
	p   Params
	ln  *netlimit.CapListener
	srv *gortmp.Server

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // Serve, and each connection until its handler closes
}

// New starts listening.
func New(p Params) (*Server, error) {
	if p.MaxConns <= 0 {
		p.MaxConns = 2000
	}
	if p.Idle <= 0 {
		p.Idle = 10 * time.Second
	}
	raw, err := net.Listen("tcp", p.Addr)
	if err != nil {
		return nil, err
	}
	ln := &netlimit.CapListener{Listener: raw, Max: p.MaxConns}
	s := &Server{p: p, ln: ln, conns: map[net.Conn]struct{}{}}
	quiet := logrus.New()
	quiet.SetOutput(io.Discard) // go-rtmp's own chatter; ours goes to slog
	s.srv = gortmp.NewServer(&gortmp.ServerConfig{
		OnConnect: func(c net.Conn) (io.ReadWriteCloser, *gortmp.ConnConfig) {
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			h := &handler{s: s, conn: c, log: p.Log.With("remote", c.RemoteAddr().String())}
			return &netlimit.IdleConn{Conn: c, Idle: p.Idle}, &gortmp.ConnConfig{
				Handler: h,
				ControlState: gortmp.StreamControlStateConfig{
					DefaultBandwidthWindowSize: 6 * 1024 * 1024 / 8,
					// Hostile sizes are refused rather than allocated.
					MaxChunkSize:      1 << 20,
					MaxMessageSize:    8 << 20,
					MaxChunkStreams:   64,
					MaxMessageStreams: 16,
				},
				Logger: quiet,
			}
		},
	})
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// forget is called when a connection's handler closes.
func (s *Server) forget(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Close stops listening, closes every connection and waits for them.
func (s *Server) Close() {
	_ = s.srv.Close()
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
