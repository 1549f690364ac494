package rtc

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/relaymesh/relaymesh/internal/codec"
)

// Offered is one codec of an offer's media section.
type Offered struct {
	PT       uint8
	MimeType string // "video/H264"
	Clock    uint32
	Channels uint16
	Fmtp     string
	PLI, FIR bool // the rtcp-fb the offerer accepts for it
}

// OfferedCodecs lists the codecs of a media section, in the offer's order.
func OfferedCodecs(m *sdp.MediaDescription) []Offered {
	var out []Offered
	for _, f := range m.MediaName.Formats {
		if pt, err := strconv.Atoi(f); err == nil && pt >= 0 && pt <= 127 {
			out = append(out, Offered{PT: uint8(pt)})
		}
	}
	find := func(pt string) *Offered {
		n, err := strconv.Atoi(pt)
		if err != nil {
			return nil
		}
		for i := range out {
			if int(out[i].PT) == n {
				return &out[i]
			}
		}
		return nil
	}
	wildPLI, wildFIR := false, false
	for _, a := range m.Attributes {
		ptStr, rest, _ := strings.Cut(a.Value, " ")
		o := find(ptStr)
		switch a.Key {
		case "rtpmap":
			if o == nil {
				continue
			}
			name, params, _ := strings.Cut(rest, "/")
			rate, ch, _ := strings.Cut(params, "/")
			r, _ := strconv.Atoi(rate)
			o.MimeType, o.Clock = m.MediaName.Media+"/"+name, uint32(r)
			if c, err := strconv.Atoi(ch); err == nil {
				o.Channels = uint16(c)
			}
		case "fmtp":
			if o != nil {
				o.Fmtp = rest
			}
		case "rtcp-fb":
			pli, fir := rest == "nack pli", rest == "ccm fir"
			if ptStr == "*" {
				wildPLI, wildFIR = wildPLI || pli, wildFIR || fir
			} else if o != nil {
				o.PLI, o.FIR = o.PLI || pli, o.FIR || fir
			}
		}
	}
	for i := range out {
		out[i].PLI = out[i].PLI || wildPLI
		out[i].FIR = out[i].FIR || wildFIR
	}
	return out
}

// Codec is the offered codec as the codec table describes codecs.
func (o Offered) Codec() codec.Codec {
	return codec.Codec{MimeType: o.MimeType, ClockRate: o.Clock, Channels: o.Channels, Fmtp: o.Fmtp}
}

// Direction is a media section's direction attribute (sendrecv if absent,
// RFC 8866 §6.7).
func Direction(m *sdp.MediaDescription) string {
	for _, d := range []string{"sendonly", "recvonly", "inactive", "sendrecv"} {
		if _, ok := m.Attribute(d); ok {
			return d
		}
	}
	return "sendrecv"
}
