package rtc

import (
	"net/netip"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/gso"
)

// PeerBatch brackets a viewer's writes (fanout.Batch): between Begin and
// End the datagrams written to the peer's selected address over the
// shared UDP socket are held and go out as one burst (internal/gso). A
// peer on ICE-TCP, or not connected yet, has no address held: its writes
// go as before.
type PeerBatch struct {
	b    *gso.Batcher
	to   atomic.Pointer[netip.AddrPort]
	hold *gso.Hold // the session goroutine's
}

// Batch returns pc's PeerBatch, nil when the engine does not batch
// (-gso=false, or a kernel without UDP_SEGMENT).
func (e *Engine) Batch(pc *webrtc.PeerConnection) *PeerBatch {
	if e.batcher == nil {
		return nil
	}
	pb := &PeerBatch{b: e.batcher}
	// The ICE transport is the PeerConnection's from its creation; the
	// selected pair changes at connection and at ICE restarts.
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		pb.to.Store(udpRemote(p))
	})
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

// Begin holds the peer's address.
func (p *PeerBatch) Begin() {
	if to := p.to.Load(); to != nil {
		p.hold = p.b.Hold(*to)
	}
}

// End sends what was held.
func (p *PeerBatch) End() {
	if p.hold != nil {
		p.hold.Release()
		p.hold = nil
	}
}
