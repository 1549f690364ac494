package codec

import "github.com/bluenviron/gortsplib/v5/pkg/format"

// OfRTSP is the codec of an RTSP (gortsplib) format as WebRTC spells it, or
// the zero Codec for formats WebRTC viewers cannot take as they are (AAC
// is transcoded by its source; M-JPEG, MPEG-2 and others are refused).
func OfRTSP(f format.Format) Codec {
	switch f := f.(type) {
	case *format.H264:
		return H264FromSPS(f.SPS)
	case *format.H265:
		// Viewers that decode H.265 (Safari, Chrome 136+ with a hardware
		// decoder, pion) get it as it is; others are told the codec.
		return H265FromSPS(f.SPS)
	case *format.VP8:
		return Codec{MimeType: MimeVP8, ClockRate: 90000}
	case *format.VP9:
		return Codec{MimeType: MimeVP9, ClockRate: 90000, Fmtp: "profile-id=0"}
	case *format.AV1:
		return Codec{MimeType: MimeAV1, ClockRate: 90000}
	case *format.Opus:
		return Opus
	case *format.G711:
		// Browsers take G.711 as it is, at 8 kHz mono (RFC 3551 PCMU/PCMA).
		if f.SampleRate != 8000 || f.ChannelCount != 1 {
			return Codec{}
		}
		if f.MULaw {
			return Codec{MimeType: MimePCMU, ClockRate: 8000, Channels: 1}
		}
		return Codec{MimeType: MimePCMA, ClockRate: 8000, Channels: 1}
	}
	return Codec{}
}
