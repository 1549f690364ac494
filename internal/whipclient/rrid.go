package whipclient

import (
	"slices"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// rridStamper makes a simulcast client's retransmissions look like a
// browser's. pion's NACK responder sends each on its encoding's RTX SSRC
// with the original packet's header extensions; browsers instead name the
// repair stream by the RID of the stream it repairs (the repaired-rid
// extension, RFC 8852 §3.2), which is how a receiver that knows the
// streams only by RID (no SSRCs in the offer, as browsers send simulcast)
// binds it, together with the mid (RFC 8843 §15), which a receiver needs
// first. It learns both from the encoding's own packets.
type rridStamper struct{ interceptor.NoOp }

func (*rridStamper) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var midID, ridID, rridID uint8
	for _, e := range info.RTPHeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		case sdp.SDESRepairRTPStreamIDURI:
			rridID = uint8(e.ID)
		}
	}
	if info.SSRCRetransmission == 0 || midID == 0 || ridID == 0 || rridID == 0 {
		return w
	}
	var mid, rid atomic.Pointer[[]byte]
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		switch h.SSRC {
		case info.SSRC:
			learn(&mid, h.GetExtension(midID))
			learn(&rid, h.GetExtension(ridID))
		case info.SSRCRetransmission:
			if m, r := mid.Load(), rid.Load(); m != nil && r != nil {
				rh := *h
				rh.Extensions = slices.Clone(h.Extensions)
				_ = rh.DelExtension(ridID)
				if err := rh.SetExtension(midID, *m); err != nil {
					return 0, err
				}
				if err := rh.SetExtension(rridID, *r); err != nil {
					return 0, err
				}
				return w.Write(&rh, payload, a)
			}
		}
		return w.Write(h, payload, a)
	})
}

// learn keeps the first value v of an extension.
func learn(at *atomic.Pointer[[]byte], v []byte) {
	if v != nil && at.Load() == nil {
		v = slices.Clone(v)
		at.Store(&v)
	}
}

type rridStamperFactory struct{}

func (rridStamperFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &rridStamper{}, nil
}
