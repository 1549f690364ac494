package egress

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// A viewer that offers REMB (draft-alvestrand-rmcat-remb) and not
// transport-wide feedback estimates its bandwidth itself and sends the
// estimate; GCC, fed nothing, would sit at its start. So a simulcast leg's
// estimate is the viewer's latest REMB while one is fresh, and GCC's
// otherwise. Browsers that negotiate transport-wide feedback send no REMB
// for streams that carry its sequence numbers, as a leg's do.

// rembFresh is how long a REMB stands: receivers send one a second or
// more often, and at once when their estimate falls.
const rembFresh = 3 * time.Second

// estimate is a leg's bandwidth estimate: REMB while fresh, else gcc
// (within its bound: layers.estimate).
type estimate struct {
	gcc  Estimator
	remb atomic.Int64 // bit/s
	at   atomic.Int64 // when the last REMB came, Unix nanoseconds
}

// fresh is the viewer's latest REMB in bit/s, if one came in the last
// rembFresh.
func (e *estimate) fresh() (int, bool) {
	if at := e.at.Load(); at != 0 && time.Since(time.Unix(0, at)) < rembFresh {
		return int(e.remb.Load()), true
	}
	return 0, false
}

// take takes a viewer's REMB if it is about ssrc.
func (e *estimate) take(p *rtcp.ReceiverEstimatedMaximumBitrate, ssrc uint32) {
	if slices.Contains(p.SSRCs, ssrc) {
		e.remb.Store(int64(p.Bitrate))
		e.at.Store(time.Now().UnixNano())
	}
}
