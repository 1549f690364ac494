package rtc

import (
	"fmt"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// feedback every video codec is registered with: NACK and both keyframe
// requests (PLI and FIR, RFC 4585 §6.3.1, RFC 5104 §4.3.1).
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: webrtc.TypeRTCPFBNACK},
	{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
	{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
}

// PublisherCodecs are the codecs a publisher may send, in the order the node
// prefers them when an offer has several: H.264 first because every browser
// and player can decode it, then VP8, VP9, AV1, and H.265 last since only
// some viewers decode it (Safari, Chrome 136+ with a hardware decoder). RTX is left out on purpose:
// publishers then retransmit on the media SSRC, which needs no mapping.
func PublisherCodecs() []webrtc.RTPCodecParameters {
	vf := append([]webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}, {Type: webrtc.TypeRTCPFBGoogREMB}}, videoFeedback...)
	h264 := func(pt webrtc.PayloadType, profile string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{PayloadType: pt, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile,
			RTCPFeedback: vf}}
	}
	return []webrtc.RTPCodecParameters{
		h264(102, "42001f"), h264(106, "42e01f"), h264(108, "4d001f"), h264(112, "64001f"), h264(127, "640032"),
		{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: vf}},
		{PayloadType: 98, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: vf}},
		{PayloadType: 100, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=2", RTCPFeedback: vf}},
		{PayloadType: 45, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000, RTCPFeedback: vf}},
		{PayloadType: 116, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH265, ClockRate: 90000,
			SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST", RTCPFeedback: vf}},
		{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}}},
	}
}

// PublisherAPI is for legs that receive a stream (WHIP publishers): every
// publisher codec and pion's default interceptors (NACK generation, receiver
// reports, transport-wide congestion control feedback so browsers and OBS
// can estimate bandwidth). There is one such leg per stream, so their cost
// does not scale with the audience.
func (e *Engine) PublisherAPI(t Timeouts) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range PublisherCodecs() {
		typ := webrtc.RTPCodecTypeVideo
		if c.MimeType == webrtc.MimeTypeOpus {
			typ = webrtc.RTPCodecTypeAudio
		}
		if err := m.RegisterCodec(c, typ); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(e.settings(t))), nil
}

// ViewerCodec is one codec a viewer leg must offer, with its kind.
type ViewerCodec struct {
	Kind  webrtc.RTPCodecType
	Codec webrtc.RTPCodecCapability
}

// ViewerAPI is for legs that send one stream (WHEP viewers, child relays):
// exactly the stream's codecs, so the answer names nothing else, and no
// interceptors at all. NACKs are answered from the track's shared cache and
// sender reports come from one reporter per node (fanout/webrtcsub), so the
// packet path of a leg holds no lock or map of its own; no congestion
// control state, no header extensions (the publisher's extension ids mean
// nothing on this leg): a viewer costs as little as a leg can.
func (e *Engine) ViewerAPI(t Timeouts, codecs []ViewerCodec) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for i, c := range codecs {
		c.Codec.RTCPFeedback = nil
		if c.Kind == webrtc.RTPCodecTypeVideo {
			c.Codec.RTCPFeedback = videoFeedback
		}
		p := webrtc.RTPCodecParameters{RTPCodecCapability: c.Codec, PayloadType: webrtc.PayloadType(96 + i)}
		if err := m.RegisterCodec(p, c.Kind); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.Codec.MimeType, err)
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(&interceptor.Registry{}),
		webrtc.WithSettingEngine(e.settings(t))), nil
}
