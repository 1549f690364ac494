package gateway

import (
	"fmt"
	"os"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/relaymesh/relaymesh/ingest/transcode"
)

// aacFile reads an ADTS file (.aac, as ffmpeg -f adts writes it) and
// transcodes it to Opus packets once, at open: browsers do not play AAC
// over WebRTC. Each packet is transcode.FrameSamples long.
func aacFile(path string, bitrate int) ([][]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("not an ADTS AAC file: %w", err)
	}
	first := pkts[0]
	asc, err := (&mpeg4audio.AudioSpecificConfig{Type: first.Type, SampleRate: first.SampleRate, ChannelConfig: first.ChannelConfig}).Marshal()
	if err != nil {
		return nil, err
	}
	tr, err := transcode.New(transcode.Params{Config: asc, Bitrate: bitrate})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	var out [][]byte
	for _, p := range pkts {
		op, err := tr.Push(p.AU)
		if err != nil {
			return nil, fmt.Errorf("AAC frame not decoded: %w", err)
		}
		out = append(out, op...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no audio in %s", path)
	}
	return out, nil
}
