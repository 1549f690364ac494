package rtc

import (
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/gso"
)

// Egress sends a viewer's RTP itself: it encrypts each packet with the
// session's SRTP keys straight into the viewer's burst and sends the burst
// from the socket the viewer is heard on. pion's own path for the same
// packet (its SRTP session, the DTLS/SRTP mux, the ICE conn, the candidate
// pair and the UDP mux, each with a lock or a lookup) was a third of a
// busy origin's time. pion still runs everything else of the
// PeerConnection: ICE and its consent checks, DTLS, RTCP both ways.
//
// Egress takes over when DTLS connects, before pion can have encrypted a
// packet of the session, so one SRTP context (RFC 3711 §3.2.3: the
// rollover counter follows every packet sent) sees all of them. A session
// whose keys it could not learn (srtpkeys.go), or whose viewer was not
// heard on a UDP socket, is left to pion from start to end.
//
// Lifecycle: Engine.ViewerAPI → Engine.Batch (which wires it to the
// PeerConnection) → writes → PeerBatch.Close.
type Egress struct {
	keys  srtpKeys
	b     *gso.Batcher
	log   *slog.Logger
	ready atomic.Bool // set once, when DTLS connects and sealer is made
	// The engine's counts of sessions taken over and left to pion.
	own, pion *atomic.Int64

	mu      sync.Mutex
	sealer  sealer     // the session's one SRTP context (seal.go)
	route   *gso.Route // the selected pair's remote address
	burst   *gso.Burst
	open    bool
	out     *gso.Outbox // the open burst's, if a worker's (fanout.Writers); nil: sent at once
	scratch []byte
	lost    bool // a write found no UDP pair; logged once
	closed  bool
}

// overhead is the most SRTP adds to an RTP packet: a 16-byte AEAD tag
// (RFC 7714 §7.2), more than HMAC-SHA1-80's 10 (RFC 3711 §4.2).
const overhead = 16

// Egressing reports whether e sends the session's RTP itself.
func (e *Egress) Egressing() bool { return e != nil && e.ready.Load() }

// connected makes the SRTP sealer; pion calls it as DTLS connects, before
// it starts its own SRTP.
func (e *Egress) connected() {
	seal, profile, err := e.keys.sealer()
	if err != nil {
		e.pion.Add(1)
		e.log.Debug("viewer egress left to pion", "err", err)
		return
	}
	e.mu.Lock()
	heard := e.route != nil && e.route.Conn() != nil
	if heard {
		e.sealer = seal
	}
	e.mu.Unlock()
	if !heard {
		e.pion.Add(1)
		e.log.Debug("viewer egress left to pion: the peer was not heard on a UDP socket")
		return
	}
	e.own.Add(1)
	e.ready.Store(true)
	e.log.Debug("viewer egress below pion", "profile", profile.String())
}

// follow points e at the selected pair's remote address, nil for none
// (ICE-TCP). After close it only lets go of what it watched.
func (e *Egress) follow(to *netip.AddrPort) {
	var r *gso.Route
	if to != nil {
		r = e.b.Watch(*to)
	}
	e.mu.Lock()
	old := e.route
	if e.closed {
		e.route = nil // closing, or a pair change that came after close
	} else {
		if old != nil && r != nil {
			// Until the new address is heard, the socket that reached
			// the old one (an ICE restart keeps the node's candidates).
			r.Seed(old.Conn())
		}
		e.route, r = r, nil
	}
	e.mu.Unlock()
	for _, x := range []*gso.Route{old, r} {
		if x != nil {
			x.Close()
		}
	}
}

// close ends e's watch; the PeerConnection has closed.
func (e *Egress) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.follow(nil)
}

// beginInto opens a burst, to be put into o (nil: sent) when full and
// at end.
func (e *Egress) beginInto(o *gso.Outbox) {
	e.mu.Lock()
	e.open, e.out = true, o
	e.mu.Unlock()
}

func (e *Egress) end() {
	e.mu.Lock()
	e.flush()
	e.open, e.out = false, nil
	e.mu.Unlock()
}

// flush sends the burst, or puts it into the worker's Outbox it was
// begun into. Under mu.
func (e *Egress) flush() {
	c := e.aim()
	switch {
	case c == nil:
	case e.out != nil:
		e.burst = e.out.Take(c, e.burst)
	default:
		e.b.Send(c, e.burst)
	}
}

// aim addresses the burst to the viewer and returns the socket it is
// heard on; with none (no burst, or the pair is not UDP) the burst is
// dropped and aim returns nil. Under mu.
func (e *Egress) aim() *gso.Conn {
	if e.burst.Len() == 0 {
		return nil
	}
	var c *gso.Conn
	if e.route != nil {
		c = e.route.Conn()
	}
	if c == nil {
		e.burst.Reset()
		return nil
	}
	e.burst.To = e.route.Addr()
	return c
}

// Writer is what a leg writes its RTP to: e once it has taken over, w
// (pion's writer for the leg's sender) until then, and for good if it
// never does.
func (e *Egress) Writer(w webrtc.TrackLocalWriter) webrtc.TrackLocalWriter {
	if e == nil {
		return w
	}
	return egressWriter{e, w}
}

type egressWriter struct {
	e    *Egress
	pion webrtc.TrackLocalWriter
}

func (w egressWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if !w.e.ready.Load() {
		return w.pion.WriteRTP(h, payload)
	}
	return w.e.writeRTP(h, payload)
}

func (w egressWriter) Write(b []byte) (int, error) {
	if !w.e.ready.Load() {
		return w.pion.Write(b)
	}
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	return w.e.writeRTP(&p.Header, p.Payload)
}

// writeRTP encrypts one packet into the open burst, or sends it at once
// (a NACK's answer, from the RTCP reader, outside any burst). It returns
// the RTP bytes taken, as pion's writer does.
func (e *Egress) writeRTP(h *rtp.Header, payload []byte) (int, error) {
	n := h.MarshalSize() + len(payload)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, io.ErrClosedPipe
	}
	if e.route == nil || e.route.Conn() == nil {
		if !e.lost {
			e.lost = true
			e.log.Warn("a viewer's selected ICE pair is not UDP any more; its media is not sent")
		}
		return 0, nil
	}
	if e.open {
		if e.burst.Full(n + overhead) {
			e.flush()
		}
		out, err := e.sealer.seal(e.burst.Room(n+overhead), h, payload)
		if err != nil {
			return 0, err
		}
		e.burst.Commit(len(out))
		return n, nil
	}
	if cap(e.scratch) < n+overhead {
		e.scratch = make([]byte, n+overhead)
	}
	out, err := e.sealer.seal(e.scratch[:n+overhead], h, payload)
	if err != nil {
		return 0, err
	}
	e.burst.Add(out)
	e.flush()
	return n, nil
}
