package rtc

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
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

// Compatible reports whether a codec offered by a peer can carry a stream
// encoded as want: same name and clock rate; for H.264 packetization-mode 1
// and the same profile (profile_idc and constraint flags, RFC 6184 §8.1; the
// level may differ); for VP9 the same profile-id; for H.265 the same
// profile-id, tier-flag and tx-mode, not level-id (draft-ietf-avtcore-hevc-webrtc
// §2.1, as browsers and pion match them).
func Compatible(o Offered, wantMime string, wantClock uint32, wantFmtp string) bool {
	if !strings.EqualFold(o.MimeType, wantMime) || o.Clock != wantClock {
		return false
	}
	switch strings.ToLower(wantMime) {
	case "video/h264":
		if FmtpValue(o.Fmtp, "packetization-mode", "0") != "1" || FmtpValue(wantFmtp, "packetization-mode", "0") != "1" {
			return false
		}
		a, b := FmtpValue(o.Fmtp, "profile-level-id", "42001f"), FmtpValue(wantFmtp, "profile-level-id", "42001f")
		return len(a) == 6 && len(b) == 6 && strings.EqualFold(a[:4], b[:4])
	case "video/vp9":
		return FmtpValue(o.Fmtp, "profile-id", "0") == FmtpValue(wantFmtp, "profile-id", "0")
	case "video/h265":
		for _, p := range [][2]string{{"profile-id", "1"}, {"tier-flag", "0"}, {"tx-mode", "SRST"}} {
			if !strings.EqualFold(FmtpValue(o.Fmtp, p[0], p[1]), FmtpValue(wantFmtp, p[0], p[1])) {
				return false
			}
		}
	}
	return true
}

// FmtpValue returns one parameter of an a=fmtp value, or def.
func FmtpValue(fmtp, key, def string) string {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return def
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
