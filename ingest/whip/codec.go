package whip

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/codec"
	"github.com/relaymesh/relaymesh/internal/rtc"
)

// chooseCodec picks the codec to receive on a media section: the first of
// the node's codecs, in preference order, that the offer has. Choosing one
// codec per section at answer time lets the stream's tracks exist, with a
// known codec, before the first packet arrives.
func chooseCodec(m *sdp.MediaDescription) (rtc.Offered, webrtc.RTPCodecParameters, bool) {
	offers := rtc.OfferedCodecs(m)
	for _, ours := range rtc.PublisherCodecs() {
		for _, o := range offers {
			if !codec.Compatible(o.Codec(), codec.Codec{MimeType: ours.MimeType, ClockRate: ours.ClockRate, Fmtp: ours.SDPFmtpLine}) {
				continue
			}
			p := webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(o.PT), RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: ours.MimeType, ClockRate: o.Clock, Channels: o.Channels, SDPFmtpLine: o.Fmtp, RTCPFeedback: ours.RTCPFeedback}}
			if p.Channels == 0 {
				p.Channels = ours.Channels
			}
			return o, p, true
		}
	}
	return rtc.Offered{}, webrtc.RTPCodecParameters{}, false
}

// offeredRTX is the offer's RTX (RFC 4588 §8.6: rtx/CLOCK with apt=PT) for
// the codec of payload type pt, received along with it.
func offeredRTX(m *sdp.MediaDescription, pt uint8) (webrtc.RTPCodecParameters, bool) {
	for _, o := range rtc.OfferedCodecs(m) {
		if strings.EqualFold(o.MimeType, webrtc.MimeTypeRTX) && codec.FmtpValue(o.Fmtp, "apt", "") == strconv.Itoa(int(pt)) {
			return webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(o.PT), RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeRTX, ClockRate: o.Clock, SDPFmtpLine: o.Fmtp}}, true
		}
	}
	return webrtc.RTPCodecParameters{}, false
}
