package recorder

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// rebuild remakes the index of every recording from its files: what a
// crash left (a recording still marked live, segments written after the
// last index, a half-written .tmp) is put right before anything is served.
func (r *Recorder) rebuild() error {
	streams, err := os.ReadDir(r.p.Dir)
	if err != nil {
		return fmt.Errorf("recording folder: %w", err)
	}
	for _, st := range streams {
		if !st.IsDir() || !ValidStream(st.Name()) {
			continue
		}
		ids, _ := os.ReadDir(filepath.Join(r.p.Dir, st.Name()))
		for _, id := range ids {
			if !id.IsDir() || !ValidID(id.Name()) {
				continue
			}
			dir := filepath.Join(r.p.Dir, st.Name(), id.Name())
			m, err := scan(r.p.FS, dir, st.Name(), id.Name())
			if err != nil {
				r.p.Log.Warn("recording has nothing playable; removed", "dir", dir, "err", err)
				_ = os.RemoveAll(dir)
				continue
			}
			if err := writeIndex(r.p.FS, dir, m); err != nil {
				return fmt.Errorf("rewrite index of %s: %w", dir, err)
			}
		}
	}
	return nil
}

// scan reads a recording's folder: its init segment for the codecs and
// each segment for its times.
func scan(fsys FS, dir, stream, id string) (*Meta, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	salvaged := false
	for _, e := range entries {
		switch {
		case strings.HasSuffix(e.Name(), ".tmp"):
			_ = os.Remove(filepath.Join(dir, e.Name())) // a write the crash cut short
		case strings.HasSuffix(e.Name(), partSuffix):
			salvage(fsys, dir, e.Name())
			salvaged = true
		}
	}
	if salvaged {
		if entries, err = os.ReadDir(dir); err != nil {
			return nil, err
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, InitName))
	if err != nil {
		return nil, err
	}
	init, vp8, err := ParseInit(raw)
	if err != nil {
		return nil, fmt.Errorf("init.mp4: %v", err)
	}
	m := &Meta{Stream: stream, ID: id, Segments: []Segment{}}
	if old, err := readIndex(dir); err == nil && !old.Start.IsZero() {
		m.Start = old.Start
	} else if t, err := time.Parse(idLayout, strings.SplitN(id, "-", 2)[0]); err == nil {
		m.Start = t
	}
	lead := init.Tracks[0]
	for _, t := range init.Tracks {
		m.Codecs = append(m.Codecs, codecName(t.Codec, vp8))
		if t.Codec.IsVideo() && !lead.Codec.IsVideo() {
			lead = t
		}
	}
	for _, e := range entries {
		if !ValidSegment(e.Name()) {
			continue
		}
		seg, err := readSegment(filepath.Join(dir, e.Name()), lead)
		if err != nil {
			continue // unreadable: left out of the index, never served
		}
		m.Segments = append(m.Segments, seg)
		m.Size += seg.Size
		m.DurationS = max(m.DurationS, seg.StartS+seg.DurationS)
	}
	if len(m.Segments) == 0 {
		return nil, fmt.Errorf("no segment")
	}
	m.End = m.Start.Add(time.Duration(m.DurationS * float64(time.Second)))
	return m, nil
}

// readSegment times one segment by the lead track (or the first track it
// holds).
func readSegment(path string, lead *fmp4.InitTrack) (Segment, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Segment{}, err
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(raw); err != nil || len(parts) == 0 || len(parts[0].Tracks) == 0 {
		return Segment{}, fmt.Errorf("%s: not a fragment: %v", path, err)
	}
	var base, dur uint64
	found, noKey := false, false
	for _, p := range parts {
		for _, t := range p.Tracks {
			if t.ID != lead.ID {
				continue
			}
			if !found {
				base, found = t.BaseTime, true
				noKey = len(t.Samples) > 0 && t.Samples[0].IsNonSyncSample
			}
			for _, s := range t.Samples {
				dur += uint64(s.Duration)
			}
		}
	}
	if !found {
		return Segment{}, fmt.Errorf("%s: no sample of track %d", path, lead.ID)
	}
	ts := float64(lead.TimeScale)
	return Segment{Name: filepath.Base(path), StartS: float64(base) / ts, DurationS: float64(dur) / ts, Size: int64(len(raw)), NoKeyframe: noKey}, nil
}

func codecName(c codecs.Codec, vp8 bool) string {
	switch c.(type) {
	case *codecs.H264:
		return "H264"
	case *codecs.H265:
		return "H265"
	case *codecs.AV1:
		return "AV1"
	case *codecs.VP9:
		if vp8 {
			return "VP8"
		}
		return "VP9"
	case *codecs.Opus:
		return "opus"
	}
	return fmt.Sprintf("%T", c)
}
