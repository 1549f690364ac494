package rtc

import (
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// pion's send-side estimator counts what a packet carries as its header
// and payload, not its padding (interceptor internal/cc, OnSent): a probe
// of padding-only packets would look like a trickle of headers and never
// lift an estimate. So a leg writes a padding-only packet with its padding
// as the payload (PaddingPayload, Padding set, PaddingSize 0: not a valid
// packet, so nothing else writes one), and padder, which runs after the
// estimator and before SRTP, turns it into the real thing.

// PaddingSize is the padding of one padding-only packet: RTP counts it in
// one octet (RFC 3550 §5.1), so 255 at most.
const PaddingSize = 255

// PaddingPayload is the payload a padding-only packet is written with.
var PaddingPayload = make([]byte, PaddingSize)

// padder is the interceptor that makes padding-only packets of those
// written as PaddingPayload says.
type padder struct{ interceptor.NoOp }

func (*padder) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if !h.Padding || h.PaddingSize != 0 || len(payload) == 0 || len(payload) > PaddingSize {
			return w.Write(h, payload, a)
		}
		padded := *h
		padded.PaddingSize = byte(len(payload))
		return w.Write(&padded, nil, a)
	})
}

type padderFactory struct{}

func (padderFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return &padder{}, nil }
