package egress

import (
	"time"

	"github.com/relaymesh/relaymesh/internal/rtc"
)

// A probing leg (probe.go) pads with RTP padding-only packets on its SSRC
// (RFC 3550 §5.1), after the last packet of a frame so that no frame's
// packets are split, numbered on from it: what libwebrtc sends when RTX is
// not negotiated, as it is not with viewers here. A receiver drops them
// before its depacketizer; each has a transport-wide sequence number, so
// GCC sees it arrive. They are written as rtc.PaddingPayload says, so that
// pion's estimator counts their padding.

// maxPadBurst bounds the padding packets after one frame: a 30 fps layer
// padded by 2 Mbit/s owes about 33.
const maxPadBurst = 48

// pad sends the padding the leg owes at padRate since it last reckoned,
// after the frame whose last packet was just written as t.hdr. Under the
// layers' mu, on the subscription goroutine.
func (t *Leg) pad(now time.Time) {
	l := t.layers
	if l.padRate <= 0 {
		l.padAt, l.padOwed = time.Time{}, 0
		return
	}
	if !l.padAt.IsZero() {
		l.padOwed += float64(l.padRate) / 8 * now.Sub(l.padAt).Seconds()
	}
	l.padAt = now
	n := min(int(l.padOwed/rtc.PaddingSize), maxPadBurst)
	l.padOwed = min(l.padOwed-float64(n*rtc.PaddingSize), maxPadBurst*rtc.PaddingSize) // a stall is not made up for
	if n == 0 {
		return
	}
	hdr := t.hdr
	hdr.Marker, hdr.Padding, hdr.PaddingSize = false, true, 0
	hdr.Extension, hdr.Extensions = false, nil // the interceptors add theirs
	first := l.rw.Pad(uint16(n))
	for i := range n {
		hdr.SequenceNumber = first + uint16(i)
		n, err := t.ws.WriteRTP(&hdr, rtc.PaddingPayload)
		l.wire += uint64(n)
		if err != nil {
			return
		}
		l.sent.Add(1) // a sender report counts them; its octets do not (RFC 3550 §6.4.1)
	}
}
