// Package egress feeds WebRTC legs (WHEP viewers, child relays, a gateway's
// WHIP session) from fanout tracks. Leg is a pion TrackLocal bound to one
// RTPSender, the mirror of ingest.Leg: it
// subscribes to a fanout.Track when pion binds it and writes each shared
// packet with this leg's SSRC and payload type. RTCP from the leg is
// terminated here (RFC 3550 §7 translator rules do not apply: each leg is its
// own RTP session): NACKs are answered from the fanout track's shared cache
// and keyframe requests are passed to the track, which coalesces them.
package egress

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/codec"
	"github.com/relaymesh/relaymesh/internal/rtc"
)

// ErrNoCodec is returned by Bind when the leg negotiated no codec that can
// carry the source track.
var ErrNoCodec = errors.New("the peer negotiated no codec for this track")

// Leg is a webrtc.TrackLocal for one leg. Lifecycle: New → Bind (by pion,
// once) → packets flow → Close (after the PeerConnection has closed, to wait
// for the RTCP goroutine).
type Leg struct {
	cur       atomic.Pointer[fanout.Track] // the track carried; a simulcast leg's changes at layer switches
	layers    *layers                      // nil unless the source has several layers
	id        string
	streamID  string
	kind      webrtc.RTPCodecType
	reporter  *Reporter
	writeRTCP func([]rtcp.Packet) error
	session   *fanout.Session
	out       *rtc.Egress

	// The newest packet written: its RTP timestamp and when the node took it,
	// for sender reports. Written by the subscriber goroutine only.
	lastTS atomic.Uint32
	lastAt atomic.Int64

	mu  sync.Mutex
	sub *fanout.Subscriber
	wg  sync.WaitGroup // the RTCP reader

	// Set once by Bind before the subscription starts, read-only after.
	ssrc uint32
	pt   uint8
	ws   webrtc.TrackLocalWriter

	rs      *resender  // the RTCP reader goroutine's only
	hdr     rtp.Header // scratch header, the subscriber goroutine's only
	flowing bool       // a packet has gone out; the subscriber goroutine's only
}

var _ webrtc.TrackLocal = (*Leg)(nil)
var _ fanout.Writer = (*Leg)(nil)

// Params configures a Leg.
type Params struct {
	StreamID string
	// Reporter sends this leg's sender reports; WriteRTCP is the leg's
	// PeerConnection.WriteRTCP. Both are needed for receivers to sync.
	Reporter  *Reporter
	WriteRTCP func([]rtcp.Packet) error
	// Bandwidth, if set, is the leg's send-side estimate: a simulcast leg
	// that is not pinned chooses its layer by it (else the top layer).
	Bandwidth Estimator
	// Session, if set, is the writer the leg's subscriptions share with
	// the other legs of its PeerConnection; else each has its own.
	Session *fanout.Session
	// Egress, if set, is the PeerConnection's: every leg of it must write
	// through it, since once it takes over it alone encrypts the session.
	Egress *rtc.Egress
}

// Estimator is what a leg reads of a bandwidth estimator (pion's
// cc.BandwidthEstimator): its target bitrate in bit/s.
type Estimator interface{ GetTargetBitrate() int }

// New makes a TrackLocal that will carry src.
func New(src *fanout.Track, p Params) *Leg {
	l := &Leg{id: src.ID(), streamID: p.StreamID, kind: rtc.CodecType(src.Kind()), reporter: p.Reporter, writeRTCP: p.WriteRTCP,
		session: p.Session, out: p.Egress, rs: newResender()}
	l.cur.Store(src)
	return l
}

// source is the track the leg carries now.
func (t *Leg) source() *fanout.Track { return t.cur.Load() }

// ID, RID, StreamID and Kind implement webrtc.TrackLocal.
func (t *Leg) ID() string                { return t.id }
func (t *Leg) RID() string               { return "" }
func (t *Leg) StreamID() string          { return t.streamID }
func (t *Leg) Kind() webrtc.RTPCodecType { return t.kind }

// Source is the fanout track this leg carries.
func (t *Leg) Source() *fanout.Track { return t.source() }

// Subscriber is the fanout subscription, nil before Bind.
func (t *Leg) Subscriber() *fanout.Subscriber {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sub
}

// Bind is called by pion when the sender starts. It picks the leg's payload
// type for the source codec and starts the subscription.
func (t *Leg) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := t.source().Codec()
	var chosen *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, want.MimeType) && c.ClockRate == want.ClockRate {
			chosen = &c
			break
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, ErrNoCodec
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sub != nil {
		return *chosen, nil
	}
	t.ssrc, t.pt, t.ws = uint32(ctx.SSRC()), uint8(chosen.PayloadType), t.out.Writer(ctx.WriteStream())
	var w fanout.Writer = t
	if t.layers != nil {
		w = layerWriter{t, t.source()}
	}
	sub, err := t.subscribe(t.source(), w)
	if err != nil {
		return webrtc.RTPCodecParameters{}, err
	}
	t.sub = sub
	t.wg.Add(1)
	go t.readRTCP(ctx.RTCPReader())
	if t.reporter != nil && t.writeRTCP != nil {
		t.reporter.add(t)
	}
	return *chosen, nil
}

// subscribe subscribes w to src, in the leg's session if it has one.
func (t *Leg) subscribe(src *fanout.Track, w fanout.Writer) (*fanout.Subscriber, error) {
	if t.session != nil {
		return src.SubscribeIn(t.session, w)
	}
	return src.Subscribe(w)
}

// Unbind ends the subscription.
func (t *Leg) Unbind(webrtc.TrackLocalContext) error {
	if t.reporter != nil {
		t.reporter.remove(t)
	}
	t.mu.Lock()
	sub := t.sub
	t.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
	if t.layers != nil {
		t.layers.close()
	}
	return nil
}

// WritePacket is the fanout.Writer: it runs on the subscriber's goroutine.
// The shared packet is not touched; its header is copied into the scratch
// header (no allocation) with this leg's SSRC and payload type.
func (t *Leg) WritePacket(p *fanout.Packet) error {
	t.hdr = p.Header
	t.hdr.SSRC, t.hdr.PayloadType = t.ssrc, t.pt
	n, err := t.ws.WriteRTP(&t.hdr, p.Payload)
	if n > 0 && !t.flowing {
		// pion drops what is written before DTLS completes, so a keyframe
		// asked for at Bind may have been lost: ask again now that packets
		// go out, unless this one starts a keyframe.
		t.flowing = true
		if t.kind == webrtc.RTPCodecTypeVideo && !codec.IsKeyframe(t.source().Codec().MimeType, p.Payload) {
			t.source().RequestKeyframe()
		}
	}
	t.lastTS.Store(p.Header.Timestamp)
	t.lastAt.Store(p.Received)
	return err
}

// senderReport describes what this leg has sent, nil before its first
// packet. The RTP time is extrapolated from the newest packet to now at the
// codec's clock rate, so the NTP/RTP pair is one instant (RFC 3550 §6.4.1).
func (t *Leg) senderReport(now time.Time) *rtcp.SenderReport {
	at := t.lastAt.Load()
	t.mu.Lock()
	sub := t.sub
	t.mu.Unlock()
	if at == 0 || sub == nil {
		return nil
	}
	elapsed := now.UnixNano() - at
	ticks := uint32(elapsed * int64(t.source().Codec().ClockRate) / int64(time.Second))
	packets, octets := sub.Stats().Packets.Load(), sub.Stats().Bytes.Load()
	if t.layers != nil {
		packets, octets = t.layers.sent.Load(), t.layers.octets.Load() // across layers
	}
	return &rtcp.SenderReport{
		SSRC:        t.ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     t.lastTS.Load() + ticks,
		PacketCount: uint32(packets),
		OctetCount:  uint32(octets),
	}
}

// readRTCP terminates the leg's RTCP: NACKs are served from the shared
// cache (RFC 4585 §6.2.1), PLI and FIR go to the track's coalescer. Receiver
// reports stop here. It ends when the sender closes.
func (t *Leg) readRTCP(r interceptor.RTCPReader) {
	defer t.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := r.Read(buf, nil)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, pkt := range pkts {
			t.handleRTCP(pkt)
		}
	}
}

// handleRTCP acts on one packet of a compound RTCP packet, and only if it
// names this leg's SSRC: pion hands each sender every compound packet in
// which any part names it, so a receiver report for audio next to a video
// NACK reaches the audio leg too (RFC 3550 §6.1: a compound packet carries
// reports about several sources).
func (t *Leg) handleRTCP(pkt rtcp.Packet) {
	switch p := pkt.(type) {
	case *rtcp.PictureLossIndication:
		if p.MediaSSRC == t.ssrc {
			t.source().RequestKeyframe()
		}
	case *rtcp.FullIntraRequest:
		// RFC 5104 §4.3.1: the FCI entries name the media sender.
		for _, e := range p.FIR {
			if e.SSRC == t.ssrc {
				t.source().RequestKeyframe()
				return
			}
		}
	case *rtcp.ReceiverEstimatedMaximumBitrate:
		if t.layers != nil && t.layers.est != nil {
			t.layers.est.take(p, t.ssrc)
		}
	case *rtcp.TransportLayerNack:
		if p.MediaSSRC == t.ssrc {
			if t.layers != nil {
				t.layers.resend(t, p)
			} else {
				t.resend(p)
			}
		}
	}
}

// resend answers a NACK from the track's shared cache, within the leg's
// retransmission budget; resent bytes count as the leg's output.
func (t *Leg) resend(n *rtcp.TransportLayerNack) {
	now := time.Now()
	src := t.source()
	stats := src.Stats()
	t.mu.Lock()
	sub := t.sub
	t.mu.Unlock()
	for _, pair := range n.Nacks {
		for _, seq := range pair.PacketList() {
			p := src.Lookup(seq)
			if p == nil {
				stats.NACKsMissed.Add(1) // the source's own NACK generator asks upstream
				continue
			}
			if !t.rs.allow(seq, len(p.Payload)+12, src.Bitrate(), now) {
				stats.NACKsRefused.Add(1)
				continue
			}
			stats.NACKsServed.Add(1)
			h := p.Header
			h.SSRC, h.PayloadType = t.ssrc, t.pt
			if _, err := t.ws.WriteRTP(&h, p.Payload); err == nil && sub != nil {
				sub.Stats().Packets.Add(1)
				sub.Stats().Bytes.Add(uint64(len(p.Payload)))
			}
		}
	}
}

// Close ends the subscription and waits for the RTCP reader, which ends once
// the PeerConnection has closed.
func (t *Leg) Close() {
	_ = t.Unbind(nil)
	t.wg.Wait()
}
