package codec

import "encoding/binary"

// nalSyntax is what differs between H.264's and H.265's RTP payloads.
type nalSyntax struct {
	header    int  // NAL unit header size
	aggregate int  // STAP-A, AP
	fragment  int  // FU-A, FU
	fuMask    byte // the original type's bits in the FU header
	nsets     int
	keySet    int // the set whose presence means the unit carries its own
	typeOf    func(b []byte) int
	setIndex  func(t int) int // -1 for other types
	random    func(t int) bool
	// key: a unit that makes a keyframe for a decoder that joins here (a
	// random access picture, or the sets that start one).
	key       func(t int) bool
	aggHeader func(first []byte) []byte
}

const (
	naluIDR   = 5
	naluSTAPA = 24
	naluFUA   = 28
)

var h264Syntax = &nalSyntax{
	header: 1, aggregate: naluSTAPA, fragment: naluFUA, fuMask: 0x1f, nsets: 2, keySet: 0,
	typeOf: func(b []byte) int { return int(b[0] & 0x1f) },
	setIndex: func(t int) int {
		switch t {
		case 7: // SPS
			return 0
		case 8: // PPS
			return 1
		}
		return -1
	},
	random:    func(t int) bool { return t == naluIDR },
	key:       func(t int) bool { return t == naluIDR || t == 7 },                 // IDR or SPS
	aggHeader: func(sps []byte) []byte { return []byte{naluSTAPA | sps[0]&0x60} }, // NRI of the SPS
}

var h265Syntax = &nalSyntax{
	header: 2, aggregate: 48, fragment: 49, fuMask: 0x3f, nsets: 3, keySet: 1,
	typeOf: func(b []byte) int { return int(b[0] >> 1 & 0x3f) },
	setIndex: func(t int) int {
		if t >= 32 && t <= 34 { // VPS, SPS, PPS
			return t - 32
		}
		return -1
	},
	random: func(t int) bool { return t >= 16 && t <= 21 },                         // BLA, IDR, CRA
	key:    func(t int) bool { return (t >= 16 && t <= 21) || t == 32 || t == 33 }, // IRAP, VPS or SPS
	// The AP's layer and temporal ids are the lowest of its units'
	// (RFC 7798 §4.4.2): the VPS's.
	aggHeader: func(vps []byte) []byte { return []byte{48<<1 | vps[0]&0x01, vps[1]} },
}

// keyframe reports whether an RTP payload starts or carries a keyframe: a
// single NAL unit, a unit of an aggregation packet (STAP-A, RFC 6184
// §5.7.1; AP without DONL as WebRTC sends it, RFC 7798 §4.4.2), or the
// first fragment of a fragmentation unit (FU-A §5.8; FU §4.4.3).
func (syn *nalSyntax) keyframe(p []byte) bool {
	if len(p) < syn.header {
		return false
	}
	switch t := syn.typeOf(p); t {
	case syn.aggregate:
		for rest := p[syn.header:]; len(rest) > 2; {
			n := int(binary.BigEndian.Uint16(rest))
			if n < syn.header || len(rest) < 2+n {
				return false
			}
			if syn.key(syn.typeOf(rest[2:])) {
				return true
			}
			rest = rest[2+n:]
		}
		return false
	case syn.fragment:
		return len(p) > syn.header && p[syn.header]&0x80 != 0 && syn.key(int(p[syn.header]&syn.fuMask))
	default:
		return syn.key(t)
	}
}
