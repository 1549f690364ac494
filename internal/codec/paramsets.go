package codec

import (
	"encoding/binary"

	"github.com/pion/rtp"
)

// ParamSets puts the parameter sets in-band before every random access
// picture that does not already carry them: SPS and PPS before an H.264 IDR,
// VPS, SPS and PPS before an H.265 IRAP picture. RTSP publishers (ffmpeg,
// cameras) announce them once in the SDP (sprop-parameter-sets, sprop-vps…);
// a WebRTC viewer that joins mid-stream only decodes from a random access
// picture preceded by them. The aggregation packet it inserts (a STAP-A,
// RFC 6184 §5.7.1; an AP, RFC 7798 §4.4.2) shifts the sequence numbers of
// what follows, so every packet goes through it.
type ParamSets struct {
	syn    *nalSyntax
	sets   [3][]byte // in the syntax's order
	shift  uint16    // packets inserted so far
	sentTS uint32    // timestamp of the last access unit that carried them
	sent   bool
}

// NewParamSets is for H.264, starting with the sets the source announced
// (SDP sprop-parameter-sets; nil when unknown): newer in-band ones replace
// them.
func NewParamSets(sps, pps []byte) *ParamSets {
	return &ParamSets{syn: h264Syntax, sets: [3][]byte{sps, pps}}
}

// NewH265ParamSets is NewParamSets for H.265 (SDP sprop-vps, sprop-sps,
// sprop-pps).
func NewH265ParamSets(vps, sps, pps []byte) *ParamSets {
	return &ParamSets{syn: h265Syntax, sets: [3][]byte{vps, sps, pps}}
}

// Process returns the packets to forward for pkt: pkt itself renumbered,
// after an aggregation packet of the parameter sets when pkt starts a
// random access picture without them.
func (p *ParamSets) Process(pkt *rtp.Packet) []*rtp.Packet {
	if p.learn(pkt.Payload) {
		p.sent, p.sentTS = true, pkt.Timestamp // this access unit carries its own
	}
	var out []*rtp.Packet
	if p.startsRandomAccess(pkt.Payload) && !(p.sent && p.sentTS == pkt.Timestamp) && p.complete() {
		agg := &rtp.Packet{Header: pkt.Header.Clone(), Payload: p.aggregate()}
		agg.Marker = false
		agg.SequenceNumber = pkt.SequenceNumber + p.shift
		p.shift++
		p.sent, p.sentTS = true, pkt.Timestamp
		out = append(out, agg)
	}
	pkt.SequenceNumber += p.shift
	return append(out, pkt)
}

func (p *ParamSets) complete() bool {
	for _, s := range p.sets[:p.syn.nsets] {
		if len(s) < p.syn.header {
			return false
		}
	}
	return true
}

// learn records parameter sets seen in the stream (newer ones win: a
// camera that changes resolution sends new ones) and reports whether b
// carried the key set (the SPS).
func (p *ParamSets) learn(b []byte) bool {
	syn := p.syn
	if len(b) < syn.header {
		return false
	}
	t := syn.typeOf(b)
	if i := syn.setIndex(t); i >= 0 {
		p.sets[i] = append(p.sets[i][:0], b...)
		return i == syn.keySet
	}
	if t != syn.aggregate {
		return false
	}
	key := false
	for rest := b[syn.header:]; len(rest) > 2; {
		n := int(binary.BigEndian.Uint16(rest))
		if n == 0 || len(rest) < 2+n {
			break
		}
		key = p.learn(rest[2:2+n]) || key
		rest = rest[2+n:]
	}
	return key
}

// startsRandomAccess: a single random access NAL unit, or the first
// fragment of one. An aggregate is left alone: one that holds the sets
// already carries them.
func (p *ParamSets) startsRandomAccess(b []byte) bool {
	syn := p.syn
	if len(b) < syn.header+1 {
		return false
	}
	switch t := syn.typeOf(b); t {
	case syn.fragment:
		fu := b[syn.header]
		return fu&0x80 != 0 && syn.random(int(fu&syn.fuMask))
	case syn.aggregate:
		return false
	default:
		return syn.random(t)
	}
}

func (p *ParamSets) aggregate() []byte {
	b := p.syn.aggHeader(p.sets[0])
	for _, s := range p.sets[:p.syn.nsets] {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return b
}
