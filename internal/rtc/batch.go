package rtc

import (
	"net/netip"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/gso"
)

// PeerBatch brackets a viewer's writes (fanout.Batch): what is written
// between Begin and End goes out as one burst (internal/gso). Once the
// viewer's Egress has taken over, the packets are encrypted straight into
// its burst; until then, and for a session pion sends itself, the
// datagrams pion writes to the peer's selected address over the shared
// UDP socket are held. A peer on ICE-TCP, or not connected yet, has no
// address held: its writes go as before.
type PeerBatch struct {
	b      *gso.Batcher
	eg     *Egress // nil: pion sends
	to     atomic.Pointer[netip.AddrPort]
	hold   *gso.Hold // the session goroutine's
	direct bool      // the session goroutine's: this batch is eg's
}

// Batch returns pc's PeerBatch, nil when the engine does not batch
// (-gso=false, or a kernel without UDP_SEGMENT). eg is the Egress
// ViewerAPI made with pc's API, or nil.
func (e *Engine) Batch(pc *webrtc.PeerConnection, eg *Egress) *PeerBatch {
	if e.batcher == nil {
		return nil
	}
	pb := &PeerBatch{b: e.batcher, eg: eg}
	// The ICE and DTLS transports are the PeerConnection's from its
	// creation; the selected pair changes at connection and at ICE
	// restarts.
	dtlsT := pc.SCTP().Transport()
	dtlsT.ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		to := udpRemote(p)
		pb.to.Store(to)
		if eg != nil {
			eg.follow(to)
		}
	})
	if eg != nil {
		// Called as DTLS connects, just before pion starts its SRTP.
		dtlsT.OnStateChange(func(s webrtc.DTLSTransportState) {
			if s == webrtc.DTLSTransportStateConnected {
				eg.connected()
			}
		})
	}
	return pb
}

// udpRemote is the pair's remote UDP address, nil for TCP or an address
// that does not parse.
func udpRemote(p *webrtc.ICECandidatePair) *netip.AddrPort {
	if p == nil || p.Remote == nil || p.Remote.Protocol != webrtc.ICEProtocolUDP {
		return nil
	}
	ip, err := netip.ParseAddr(p.Remote.Address)
	if err != nil {
		return nil
	}
	a := netip.AddrPortFrom(ip.Unmap(), p.Remote.Port)
	return &a
}

// Begin opens the burst.
func (p *PeerBatch) Begin() {
	if p.eg.Egressing() {
		p.eg.beginInto(nil)
		p.direct = true
		return
	}
	if to := p.to.Load(); to != nil {
		p.hold = p.b.Hold(*to)
	}
}

// End sends it.
func (p *PeerBatch) End() {
	if p.direct {
		p.eg.end()
		p.direct = false
		return
	}
	if p.hold != nil {
		p.hold.Release()
		p.hold = nil
	}
}

// BeginInto is Begin, with what the Egress sends of the burst put into
// out, a worker's gso.Outbox (fanout.Writers), to go with the other
// viewers' bursts in one system call at the worker's Flush.
func (p *PeerBatch) BeginInto(out interface{ Flush() }) {
	if o, ok := out.(*gso.Outbox); ok && p.eg.Egressing() {
		p.eg.beginInto(o)
		p.direct = true
		return
	}
	p.Begin()
}

// Outbox is a new gso.Outbox of the engine's sockets for one writer
// goroutine, nil when the engine does not batch.
func (e *Engine) Outbox() *gso.Outbox {
	if e.batcher == nil {
		return nil
	}
	return e.batcher.Outbox()
}

// Close ends what p watches; the PeerConnection has closed.
func (p *PeerBatch) Close() {
	if p.eg != nil {
		p.eg.close()
	}
}
