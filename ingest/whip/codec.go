package whip

import (
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
