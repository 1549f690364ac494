package ingest

import (
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/fanout"
)

// Leg is one received media section of a WebRTC source (a WHIP publisher or
// a relay's upstream): its fanout track, and what keyframe requests to the
// sender need. It is the track's fanout.KeyframeRequester.
type Leg struct {
	Track *fanout.Track
	PC    *webrtc.PeerConnection
	PLI   bool // the sender accepts PLI (RFC 4585 §6.3.1)
	FIR   bool // the sender accepts FIR (RFC 5104 §4.3.1)

	ssrc    atomic.Uint32 // the sender's SSRC, learnt from the first packet
	firSeq  atomic.Uint32
	pending atomic.Bool // asked before the SSRC was known: send it then
}

// RequestKeyframe sends a PLI, or a FIR to a sender that only does FIR,
// and nothing to one that negotiated neither (ffmpeg's WHIP muxer): a
// request it never agreed to would only be ignored.
func (l *Leg) RequestKeyframe() {
	if !l.PLI && !l.FIR {
		return
	}
	ssrc := l.ssrc.Load()
	if ssrc == 0 {
		// A cold link: the request names the sender's SSRC, which the first
		// packet brings. Keep it rather than lose it.
		l.pending.Store(true)
		return
	}
	var pkt rtcp.Packet = &rtcp.PictureLossIndication{MediaSSRC: ssrc}
	if !l.PLI {
		pkt = &rtcp.FullIntraRequest{MediaSSRC: ssrc, FIR: []rtcp.FIREntry{{SSRC: ssrc, SequenceNumber: uint8(l.firSeq.Add(1))}}}
	}
	_ = l.PC.WriteRTCP([]rtcp.Packet{pkt})
}

// ReadLoop copies a remote track into the leg's fanout track until the
// track ends. A packet is allocated per read and handed over read-only (see
// fanout). The caller runs it on its own goroutine and waits for it.
func (l *Leg) ReadLoop(remote *webrtc.TrackRemote) {
	l.ssrc.Store(uint32(remote.SSRC()))
	if l.pending.Swap(false) {
		l.RequestKeyframe()
	}
	for {
		buf := make([]byte, 1500)
		n, _, err := remote.Read(buf)
		if err != nil {
			return
		}
		var rp rtp.Packet
		if err := rp.Unmarshal(buf[:n]); err != nil {
			continue
		}
		l.Track.Write(&fanout.Packet{Header: rp.Header, Payload: rp.Payload}) // the hub strips extensions and padding
	}
}
