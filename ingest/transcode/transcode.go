// Package transcode turns AAC, the audio of RTMP and of most cameras, into
// Opus, the audio browsers play in WebRTC: once per stream, at ingest,
// never per viewer. It uses FFmpeg's AAC decoder and resampler and libopus
// through cgo when the binary is built with -tags transcode (make does so
// when the -dev packages are there); without it, New says so and the
// ingest drops AAC with a clear log line.
package transcode

import "errors"

// ErrUnavailable is returned by New in a build without the transcode tag.
var ErrUnavailable = errors.New("this binary was built without AAC transcoding (build with -tags transcode and libavcodec-dev, libswresample-dev, libopus-dev): AAC audio is dropped")

// Params configures an AAC to Opus transcoder.
type Params struct {
	// Config is the AAC AudioSpecificConfig (the RTMP/FLV sequence header,
	// an RTSP config= parameter).
	Config []byte
	// Bitrate of the Opus output in bit/s; zero means 128 kbit/s.
	Bitrate int
}

// FrameSamples is one Opus packet: 20 ms at 48 kHz.
const FrameSamples = 960

// AACToOpus decodes AAC access units and encodes 48 kHz stereo Opus
// packets of 20 ms. Not safe for concurrent use.
type AACToOpus interface {
	// Push decodes one AAC access unit and returns the Opus packets that
	// are complete, in order (each FrameSamples long).
	Push(au []byte) ([][]byte, error)
	Close()
}

// Available reports whether this build can transcode.
func Available() bool { return available }
