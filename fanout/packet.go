package fanout

import (
	"github.com/pion/rtp"

	"github.com/relaymesh/relaymesh/internal/codec"
)

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
	// ends is whether the packet closes what its source sent at once (a
	// video frame, an audio packet), set by Track.Write: a Session wakes
	// its writer then, so a frame goes out as one burst.
	ends bool
	// audio is whether the packet is audio, set by Track.Write: in a
	// Session that lets it ride, it may wait for a video frame.
	audio bool
}

// Kind tells audio from video; Codec says what a track carries. Both are
// the codec table's (internal/codec), named here for the hub's users.
type (
	Kind  = codec.Kind
	Codec = codec.Codec
)

// The kinds of Track.
const (
	KindAudio = codec.Audio
	KindVideo = codec.Video
)
