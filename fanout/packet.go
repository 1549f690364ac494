package fanout

import "github.com/pion/rtp"

// Packet is one RTP packet as it travels through a node. Sources allocate it
// per read; after Track.Write it is shared by every subscriber and must not
// be modified.
type Packet struct {
	Header  rtp.Header
	Payload []byte
	// Received is when the track took the packet (Unix nanoseconds), set by
	// Track.Write: the wall-clock side of the RTP/NTP mapping that sender
	// reports give receivers (RFC 3550 §6.4.1).
	Received int64
}

// Kind tells audio from video.
type Kind uint8

// The kinds of Track.
const (
	KindAudio Kind = iota + 1
	KindVideo
)

func (k Kind) String() string {
	switch k {
	case KindAudio:
		return "audio"
	case KindVideo:
		return "video"
	}
	return "unknown"
}

// Codec describes what a track carries, in SDP terms.
type Codec struct {
	MimeType  string // "video/H264", "audio/opus", ...
	ClockRate uint32
	Channels  uint16
	Fmtp      string // the publisher's a=fmtp parameters, verbatim
}
