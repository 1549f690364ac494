package egress

import (
	"time"

	"golang.org/x/time/rate"
)

// Retransmissions are budgeted per leg (RFC 4585 §3.2 leaves the
// sender's reaction to NACKs to it): one viewer's NACKs cannot make the
// node send more than a bounded multiple of the stream's own rate
// (once, one 1.5 KB NACK packet listing every packet of the cache made an
// origin resend about 6,000 of them, 406 times the stream's rate).
const (
	// resendGap: a packet NACKed again within it is not resent again (a
	// retransmission takes a round trip to be seen; asking again sooner
	// is a storm, not a loss).
	resendGap = 100 * time.Millisecond
	// resendFactor times the stream's bitrate is what a leg may resend,
	// at least resendFloor bytes a second, in bursts of resendBurst.
	resendFactor = 2
	resendFloor  = 32 << 10
	resendBurst  = 128 << 10
	// resendSlots remember when each of the last sequence numbers was
	// resent.
	resendSlots = 1024
)

// resender is a leg's retransmission state. Only the leg's RTCP reader
// goroutine touches it.
type resender struct {
	last [resendSlots]struct {
		seq uint16
		at  int64 // unix nanos; 0 never
	}
	lim *rate.Limiter
}

func newResender() *resender {
	return &resender{lim: rate.NewLimiter(rate.Limit(resendFloor), resendBurst)}
}

// allow says whether seq, of size bytes, may be resent now, for a stream
// of bitrate bit/s, and records it when so.
func (r *resender) allow(seq uint16, size int, bitrate uint64, now time.Time) bool {
	slot := &r.last[seq%resendSlots]
	if slot.at != 0 && slot.seq == seq && now.UnixNano()-slot.at < int64(resendGap) {
		return false
	}
	limit := rate.Limit(max(float64(bitrate)/8*resendFactor, resendFloor))
	if r.lim.Limit() != limit {
		r.lim.SetLimitAt(now, limit)
	}
	if !r.lim.AllowN(now, size) {
		return false
	}
	slot.seq, slot.at = seq, now.UnixNano()
	return true
}
