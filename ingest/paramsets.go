package ingest

import (
	"encoding/binary"

	"github.com/pion/rtp"
)

// ParamSets puts the H.264 SPS and PPS in-band before every IDR picture
// that does not already carry them. RTSP publishers (ffmpeg, cameras)
// announce them once in the SDP (sprop-parameter-sets); a WebRTC viewer
// that joins mid-stream only decodes from an IDR preceded by them. The
// STAP-A it inserts (RFC 6184 §5.7.1) shifts the sequence numbers of what
// follows, so every packet goes through it.
type ParamSets struct {
	sps, pps []byte
	shift    uint16 // packets inserted so far
	sentTS   uint32 // timestamp of the last access unit that carried them
	sent     bool
}

const (
	naluIDR   = 5
	naluSPS   = 7
	naluPPS   = 8
	naluSTAPA = 24
	naluFUA   = 28
)

// NewParamSets starts with the sets the source announced (SDP
// sprop-parameter-sets; nil when unknown): newer in-band ones replace them.
func NewParamSets(sps, pps []byte) *ParamSets { return &ParamSets{sps: sps, pps: pps} }

// Process returns the packets to forward for pkt: pkt itself renumbered,
// after a STAP-A of SPS and PPS when pkt starts an IDR without them.
func (p *ParamSets) Process(pkt *rtp.Packet) []*rtp.Packet {
	if p.learn(pkt.Payload) {
		p.sent, p.sentTS = true, pkt.Timestamp // this access unit carries its own
	}
	var out []*rtp.Packet
	if p.startsIDR(pkt.Payload) && !(p.sent && p.sentTS == pkt.Timestamp) && p.sps != nil && p.pps != nil {
		stap := &rtp.Packet{Header: pkt.Header.Clone(), Payload: p.stapA()}
		stap.Marker = false
		stap.SequenceNumber = pkt.SequenceNumber + p.shift
		p.shift++
		p.sent, p.sentTS = true, pkt.Timestamp
		out = append(out, stap)
	}
	pkt.SequenceNumber += p.shift
	return append(out, pkt)
}

// learn records parameter sets seen in the stream (newer ones win: a
// camera that changes resolution sends new ones) and reports whether b
// carried an SPS.
func (p *ParamSets) learn(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] & 0x1f {
	case naluSPS:
		p.sps = append(p.sps[:0], b...)
		return true
	case naluPPS:
		p.pps = append(p.pps[:0], b...)
	case naluSTAPA:
		sps := false
		for rest := b[1:]; len(rest) > 2; {
			n := int(binary.BigEndian.Uint16(rest))
			if n == 0 || len(rest) < 2+n {
				break
			}
			sps = p.learn(rest[2:2+n]) || sps
			rest = rest[2+n:]
		}
		return sps
	}
	return false
}

// startsIDR: a single IDR NAL unit, or the first fragment of one.
func (p *ParamSets) startsIDR(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	switch t := b[0] & 0x1f; t {
	case naluIDR:
		return true
	case naluFUA:
		return b[1]&0x80 != 0 && b[1]&0x1f == naluIDR
	case naluSTAPA:
		// An aggregate that holds an SPS already carries the sets.
		return false
	}
	return false
}

func (p *ParamSets) stapA() []byte {
	b := make([]byte, 0, 1+2+len(p.sps)+2+len(p.pps))
	b = append(b, naluSTAPA|(p.sps[0]&0x60)) // NRI of the SPS
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.sps)))
	b = append(b, p.sps...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.pps)))
	return append(b, p.pps...)
}
