// Package codec is the one place that knows codecs: what a track carries
// (Codec, Kind), the codecs relaymesh takes and how they are spelled in SDP
// (the table), keyframe detection in RTP payloads, in-band parameter sets,
// and the profile spelling WebRTC peers negotiate. It imports nothing of
// relaymesh and no WebRTC stack: sources, the hub, the recorder and the
// clients all read it.
package codec

import (
	"cmp"
	"strings"
)

// Kind tells audio from video.
type Kind uint8

// The kinds of track.
const (
	Audio Kind = iota + 1
	Video
)

func (k Kind) String() string {
	switch k {
	case Audio:
		return "audio"
	case Video:
		return "video"
	}
	return "unknown"
}

// KindOf is the kind of a codec by its mime type ("video/VP8" is video).
func KindOf(mimeType string) Kind {
	if strings.HasPrefix(strings.ToLower(mimeType), "video/") {
		return Video
	}
	return Audio
}

// Codec describes what a track carries, in SDP terms.
type Codec struct {
	MimeType  string // "video/H264", "audio/opus", ...
	ClockRate uint32
	Channels  uint16
	Fmtp      string // the a=fmtp parameters, verbatim
}

// Kind is the codec's kind, by its mime type.
func (c Codec) Kind() Kind { return KindOf(c.MimeType) }

// Name is the codec's name without its kind ("H264", "opus").
func (c Codec) Name() string {
	_, name, _ := strings.Cut(c.MimeType, "/")
	return name
}

// Same reports whether a and b are the same codec with the same
// parameters: a track can only be continued by a source that sends exactly
// what its viewers negotiated.
func Same(a, b Codec) bool {
	return a.MimeType == b.MimeType && a.ClockRate == b.ClockRate && a.Channels == b.Channels && a.Fmtp == b.Fmtp
}

// The mime types relaymesh carries, spelt as pion spells them, so a
// stream's codec reads the same on every node.
const (
	MimeH264 = "video/H264"
	MimeH265 = "video/H265"
	MimeVP8  = "video/VP8"
	MimeVP9  = "video/VP9"
	MimeAV1  = "video/AV1"
	MimeOpus = "audio/opus"
	MimePCMU = "audio/PCMU"
	MimePCMA = "audio/PCMA"
)

// Opus is Opus as every source here produces it and every browser takes it
// (RFC 7587 §7: always 48 kHz and two channels in SDP).
var Opus = Codec{MimeType: MimeOpus, ClockRate: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"}

// H264 is H.264 in packetization mode 1 (RFC 6184 §8.1) with the given
// profile-level-id, as browsers spell it.
func H264(profileLevelID string) Codec {
	return Codec{MimeType: MimeH264, ClockRate: 90000, Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profileLevelID}
}

// H264FromSPS is H264 named from a sequence parameter set.
func H264FromSPS(sps []byte) Codec { return H264(H264ProfileLevelID(sps)) }

// H265FromSPS is H.265 named from a sequence parameter set.
func H265FromSPS(sps []byte) Codec {
	return Codec{MimeType: MimeH265, ClockRate: 90000, Fmtp: H265Fmtp(sps)}
}

// Entry is one row of the table of codecs a publisher may send.
type Entry struct {
	Codec
	// PayloadType is the type the node offers it under when it offers
	// (a publisher's offer decides otherwise).
	PayloadType uint8
}

// Publishable lists the codecs a publisher may send, in the order the node
// prefers them when an offer has several: H.264 first because every browser
// and player can decode it (its browser profiles, most compatible first),
// then VP8, VP9, AV1, and H.265 last since only some viewers decode it
// (Safari, Chrome 136+ with a hardware decoder); Opus for audio.
func Publishable() []Entry {
	vp9 := func(pt uint8, profile string) Entry {
		return Entry{Codec{MimeType: MimeVP9, ClockRate: 90000, Fmtp: "profile-id=" + profile}, pt}
	}
	return []Entry{
		{H264("42001f"), 102}, {H264("42e01f"), 106}, {H264("4d001f"), 108}, {H264("64001f"), 112}, {H264("640032"), 127},
		{Codec{MimeType: MimeVP8, ClockRate: 90000}, 96},
		vp9(98, "0"), vp9(100, "2"),
		{Codec{MimeType: MimeAV1, ClockRate: 90000}, 45},
		{Codec{MimeType: MimeH265, ClockRate: 90000, Fmtp: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST"}, 116},
		{Opus, 111},
	}
}

// Canonical spells a mime type as the table does ("video/h264" →
// "video/H264"); an unknown one is returned as it is.
func Canonical(mimeType string) string {
	for _, m := range []string{MimeH264, MimeH265, MimeVP8, MimeVP9, MimeAV1, MimeOpus, MimePCMU, MimePCMA} {
		if strings.EqualFold(m, mimeType) {
			return m
		}
	}
	return mimeType
}

// FmtpValue returns the value of key in an fmtp line ("a=1;b=2"), or def.
func FmtpValue(fmtp, key, def string) string {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return def
}

// Describe names a codec for a person reading an error: H.264 with its
// profile, VP9 with its parameters, others by name.
func Describe(c Codec) string {
	name := c.Name()
	switch {
	case strings.EqualFold(name, "H264"):
		return "H264 (profile-level-id=" + FmtpValue(c.Fmtp, "profile-level-id", "42001f") + ", packetization-mode=1)"
	case c.Fmtp != "" && strings.EqualFold(name, "VP9"):
		return "VP9 (" + c.Fmtp + ")"
	}
	return name
}

// Compatible reports whether a codec offered by a peer can carry a stream
// encoded as want: same name and clock rate; for H.264 packetization-mode 1
// and the same profile (profile_idc and constraint flags, RFC 6184 §8.1; the
// level may differ); for VP9 the same profile-id; for H.265 the same
// profile-id, tier-flag and tx-mode, not level-id (draft-ietf-avtcore-hevc-webrtc
// §2.1, as browsers and pion match them).
func Compatible(offered, want Codec) bool {
	if !strings.EqualFold(offered.MimeType, want.MimeType) || offered.ClockRate != want.ClockRate {
		return false
	}
	o, w := offered.Fmtp, want.Fmtp
	switch strings.ToLower(want.MimeType) {
	case "video/h264":
		if FmtpValue(o, "packetization-mode", "0") != "1" || FmtpValue(w, "packetization-mode", "0") != "1" {
			return false
		}
		a, b := FmtpValue(o, "profile-level-id", "42001f"), FmtpValue(w, "profile-level-id", "42001f")
		return len(a) == 6 && len(b) == 6 && strings.EqualFold(a[:4], b[:4])
	case "video/vp9":
		return FmtpValue(o, "profile-id", "0") == FmtpValue(w, "profile-id", "0")
	case "video/h265":
		for _, p := range [][2]string{{"profile-id", "1"}, {"tier-flag", "0"}, {"tx-mode", "SRST"}} {
			if !strings.EqualFold(FmtpValue(o, p[0], p[1]), FmtpValue(w, p[0], p[1])) {
				return false
			}
		}
	}
	return true
}

// Interchangeable reports whether a stream's track of codec a can be fed
// by a source of codec b without renegotiating with its viewers (a backup
// encoder, another protocol's packager): the same codec and clock, and
// the parameters a decoder depends on: H.264's profile and packetization
// mode (not its level: RFC 6184 §8.1 lets a receiver take another level
// with level-asymmetry-allowed), the profile of VP9, AV1 and H.265. Opus
// and VP8 have none (Opus's fmtp are hints to the encoder, RFC 7587 §6.1).
func Interchangeable(a, b Codec) bool {
	if Same(a, b) {
		return true
	}
	if !strings.EqualFold(a.MimeType, b.MimeType) || a.ClockRate != b.ClockRate || a.Channels != b.Channels {
		return false
	}
	pa, pb := fmtpParams(a.Fmtp), fmtpParams(b.Fmtp)
	same := func(name, def string) bool { return strings.EqualFold(cmp.Or(pa[name], def), cmp.Or(pb[name], def)) }
	switch a.MimeType {
	case MimeH264:
		la, lb := pa["profile-level-id"], pb["profile-level-id"]
		return len(la) == 6 && len(lb) == 6 && strings.EqualFold(la[:2], lb[:2]) && same("packetization-mode", "0")
	case MimeVP9:
		return same("profile-id", "0")
	case MimeAV1:
		return same("profile", "0")
	case MimeH265:
		return same("profile-id", "1")
	case MimeOpus, MimeVP8:
		return true
	}
	return false
}

// fmtpParams splits an fmtp line's parameters (RFC 8866 §6.15), names in
// lower case.
func fmtpParams(fmtp string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k != "" {
			out[strings.ToLower(k)] = v
		}
	}
	return out
}
