package rtc

import (
	"fmt"

	"github.com/pion/sdp/v3"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/codec"
	"github.com/relaymesh/relaymesh/internal/gso"
)

// feedback every video codec is registered with: NACK and both keyframe
// requests (PLI and FIR, RFC 4585 §6.3.1, RFC 5104 §4.3.1).
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: webrtc.TypeRTCPFBNACK},
	{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
	{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
}

// PublisherCodecs are the codec table's publishable codecs as pion
// registers them, in the table's order of preference, with the feedback the
// node takes: transport-wide congestion control and REMB so publishers can
// estimate bandwidth, NACK, PLI and FIR for video. A publisher that offers
// RTX (RFC 4588) for its video codec gets it too (publisherAPI): pion binds
// each repair stream to its media stream (by the SDP's FID group, or by
// its repaired RID under simulcast, RFC 8852) and hands its packets, the
// original payload and sequence number restored, to the media track's
// reader; a publisher that does not retransmits on the media SSRC.
func PublisherCodecs() []webrtc.RTPCodecParameters {
	vf := append([]webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}, {Type: webrtc.TypeRTCPFBGoogREMB}}, videoFeedback...)
	var out []webrtc.RTPCodecParameters
	for _, e := range codec.Publishable() {
		fb := vf
		if e.Kind() == codec.Audio {
			fb = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
		}
		c := Capability(e.Codec)
		c.RTCPFeedback = fb
		out = append(out, webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(e.PayloadType), RTPCodecCapability: c})
	}
	return out
}

// Capability is a codec as pion describes it.
func Capability(c codec.Codec) webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: c.MimeType, ClockRate: c.ClockRate, Channels: c.Channels, SDPFmtpLine: c.Fmtp}
}

// CodecType is a track kind as pion names media kinds.
func CodecType(k codec.Kind) webrtc.RTPCodecType {
	if k == codec.Video {
		return webrtc.RTPCodecTypeVideo
	}
	return webrtc.RTPCodecTypeAudio
}

// KindOf is a pion media kind as a track kind.
func KindOf(k webrtc.RTPCodecType) codec.Kind {
	if k == webrtc.RTPCodecTypeVideo {
		return codec.Video
	}
	return codec.Audio
}

// PublisherAPI is for legs that receive a stream (WHIP publishers): every
// publisher codec and pion's default interceptors (NACK generation, receiver
// reports, transport-wide congestion control feedback so browsers and OBS
// can estimate bandwidth). There is one such leg per stream, so their cost
// does not scale with the audience.
func (e *Engine) PublisherAPI(t Timeouts) (*webrtc.API, error) {
	return e.publisherAPI(e.settings(t))
}

// LinkAPI is PublisherAPI for the links a relay pulls from its parents,
// each on a UDP socket of its own instead of the node's shared port. pion's
// UDP mux hands every packet from an address to the connection that last
// used that address, so two links between the same two nodes (two streams
// from one parent) took each other's packets: SRTP that failed to decrypt,
// and DTLS handshakes that never completed (a relay pulling a second
// stream from a parent got nothing for 15 s under load). The parent still
// answers on its shared port; the child, which starts ICE, is reached at
// the address its checks come from.
func (e *Engine) LinkAPI(t Timeouts) (*webrtc.API, error) {
	return e.publisherAPI(e.ownSocketSettings(t))
}

func (e *Engine) publisherAPI(s webrtc.SettingEngine) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range PublisherCodecs() {
		kind := CodecType(codec.KindOf(c.MimeType))
		if err := m.RegisterCodec(c, kind); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
		if kind == webrtc.RTPCodecTypeVideo {
			rtx := webrtc.RTPCodecParameters{PayloadType: rtxPayloadType(c.PayloadType), RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", c.PayloadType)}}
			if err := m.RegisterCodec(rtx, kind); err != nil {
				return nil, fmt.Errorf("register rtx for %s: %w", c.MimeType, err)
			}
		}
	}
	ir := &interceptor.Registry{}
	// A packet repaired over RTX reaches the track's reader without passing
	// the media stream's interceptors, so pion's NACK generator never
	// learns it came and asks again every 100 ms until the packet leaves
	// its log (seen: two dozen retransmissions per packet lost). Two NACKs
	// a packet: one, and one more should the first or its answer be lost.
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(m, ir,
		webrtc.WithNackGeneratorOptions(nack.GeneratorMaxNacksPerPacket(maxNACKs))); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(s)), nil
}

// ViewerCodec is one codec a viewer leg must offer, with its kind.
type ViewerCodec struct {
	Kind  webrtc.RTPCodecType
	Codec webrtc.RTPCodecCapability
}

// ViewerAPI is for legs that send one stream (WHEP viewers, child relays):
// exactly the stream's codecs, so the answer names nothing else, and no
// interceptors at all. NACKs are answered from the track's shared cache and
// sender reports come from one reporter per node (fanout/egress), so the
// packet path of a leg holds no lock or map of its own; no congestion
// control state, no header extensions (the publisher's extension ids mean
// nothing on this leg): a viewer costs as little as a leg can.
//
// A viewer of a simulcast stream whose layer follows its bandwidth is the
// exception: with onBWE set, the leg sends transport-wide sequence numbers
// (the header extension of draft-holmer-rmcat-transport-wide-cc-extensions)
// and runs pion's send-side GCC on the viewer's feedback, and onBWE gets
// the estimator when the PeerConnection is made; it takes REMB as well,
// from viewers that offer only that.
//
// When the engine batches, the leg has no interceptors and offer lets the
// node be the DTLS server, its RTP is sent by the Egress returned
// (egress.go), which the legs' writers and Engine.Batch take; else Egress
// is nil and pion sends it.
func (e *Engine) ViewerAPI(t Timeouts, codecs []ViewerCodec, onBWE func(cc.BandwidthEstimator), offer *sdp.SessionDescription) (*webrtc.API, *Egress, error) {
	m := &webrtc.MediaEngine{}
	ir := &interceptor.Registry{}
	if onBWE != nil {
		if err := addBWE(m, ir, onBWE); err != nil {
			return nil, nil, err
		}
	}
	for i, c := range codecs {
		c.Codec.RTCPFeedback = nil
		if c.Kind == webrtc.RTPCodecTypeVideo {
			c.Codec.RTCPFeedback = videoFeedback
			if onBWE != nil {
				// REMB for viewers that offer nothing else (fanout/egress/remb.go).
				c.Codec.RTCPFeedback = append([]webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}, {Type: webrtc.TypeRTCPFBGoogREMB}}, videoFeedback...)
			}
		}
		p := webrtc.RTPCodecParameters{RTPCodecCapability: c.Codec, PayloadType: webrtc.PayloadType(96 + i)}
		if err := m.RegisterCodec(p, c.Kind); err != nil {
			return nil, nil, fmt.Errorf("register %s: %w", c.Codec.MimeType, err)
		}
	}
	s := e.settings(t)
	var eg *Egress
	// The interceptors of a leg that has them see its packets on pion's
	// path, which Egress would skip.
	if setup := offerSetup(offer); e.batcher != nil && onBWE == nil && setup != "passive" {
		eg = &Egress{burst: &gso.Burst{}, b: e.batcher, log: e.log, own: &e.egressOwn, pion: &e.egressPion}
		eg.keys.wire(&s, setup == "actpass" || setup == "")
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(s)), eg, nil
}

// maxNACKs is how many times a node asks a publisher for one lost packet.
const maxNACKs = 2

// rtxPayloadType is the payload type the node offers RTX for the codec of
// payload type pt under: the next one, as browsers number them, free in
// the codec table (127's is 125).
func rtxPayloadType(pt webrtc.PayloadType) webrtc.PayloadType {
	if pt == 127 {
		return 125
	}
	return pt + 1
}

// offerSetup is the offer's a=setup (RFC 4145 §4), "" when it has none.
// BUNDLE makes it one for every section (RFC 8843 §7.1.3).
func offerSetup(offer *sdp.SessionDescription) string {
	if offer == nil {
		return ""
	}
	if v, ok := offer.Attribute("setup"); ok {
		return v
	}
	for _, m := range offer.MediaDescriptions {
		if v, ok := m.Attribute("setup"); ok {
			return v
		}
	}
	return ""
}
