package whipclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// AccessUnits reads an H.264 Annex-B file into access units (one per frame,
// with SPS/PPS/SEI kept in front of the frame they belong to), each in
// Annex-B form, which pion's H.264 payloader splits into NAL units.
func AccessUnits(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	var cur bytes.Buffer
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		cur.Write([]byte{0, 0, 0, 1})
		cur.Write(nal.Data)
		if t := nal.UnitType; t == h264reader.NalUnitTypeCodedSliceIdr || t == h264reader.NalUnitTypeCodedSliceNonIdr {
			out = append(out, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no H.264 frames in " + path)
	}
	return out, nil
}

// OpusPackets reads the Opus packets of an Ogg file.
func OpusPackets(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		page, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		// Skip the OpusHead and OpusTags header pages.
		if bytes.HasPrefix(page, []byte("OpusHead")) || bytes.HasPrefix(page, []byte("OpusTags")) {
			continue
		}
		out = append(out, page)
	}
	return out, nil
}

// Play writes samples to track at the given interval, looping, for frames
// samples in all (forever when frames < 0), until ctx ends. It keeps
// wall-clock pacing with a ticker so that it does not drift.
func Play(ctx context.Context, track *webrtc.TrackLocalStaticSample, samples [][]byte, interval time.Duration, frames int) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; frames < 0 || i < frames; i++ {
		if err := track.WriteSample(media.Sample{Data: samples[i%len(samples)], Duration: interval}); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
