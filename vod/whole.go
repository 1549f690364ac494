package vod

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"time"

	amp4 "github.com/abema/go-mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/relaymesh/relaymesh/recorder"
)

// serveWhole serves the recording as one fragmented MP4: init.mp4, a
// segment index (sidx, ISO 14496-12 §8.16.3) that gives players the
// duration and where each segment starts, then every segment. Nothing is
// copied: the body is read from the segment files as the client asks, with
// Range support from http.ServeContent. A segment file that has gone
// missing is left out, with a log line.
func (s *Server) serveWhole(w http.ResponseWriter, r *http.Request, m *recorder.Meta, dir string) {
	initRaw, err := os.ReadFile(filepath.Join(dir, recorder.InitName))
	if err != nil {
		httpError(w, http.StatusNotFound, "this recording's init.mp4 is missing")
		return
	}
	init, _, err := recorder.ParseInit(initRaw)
	if err != nil {
		s.Log.Error("recording's init.mp4 is unreadable", "stream", m.Stream, "id", m.ID, "err", err)
		httpError(w, http.StatusNotFound, "this recording's init.mp4 is unreadable")
		return
	}
	lead := init.Tracks[0]
	for _, t := range init.Tracks {
		if t.Codec.IsVideo() && !lead.Codec.IsVideo() {
			lead = t
		}
	}
	var parts []part
	var segs []recorder.Segment
	var modified time.Time
	for _, sg := range m.Segments {
		p := filepath.Join(dir, sg.Name)
		st, err := os.Stat(p)
		if err != nil {
			s.Log.Warn("recording segment missing; served without it", "stream", m.Stream, "id", m.ID, "segment", sg.Name)
			continue
		}
		parts = append(parts, part{path: p, size: st.Size()})
		segs = append(segs, recorder.Segment{Name: sg.Name, StartS: sg.StartS, DurationS: sg.DurationS, Size: st.Size()})
		modified = st.ModTime()
	}
	if len(segs) == 0 {
		httpError(w, http.StatusNotFound, "every segment of this recording is missing")
		return
	}
	sidx, err := segmentIndex(lead, segs)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "segment index: "+err.Error())
		return
	}
	head := append(initRaw, sidx...)
	body := newConcat(append([]part{{mem: head, size: int64(len(head))}}, parts...))
	defer body.Close()
	w.Header().Set("Content-Type", "video/mp4")
	// A recording still being written grows: its tag changes with each
	// segment, so a Range request never mixes two versions.
	http.ServeContent(w, r, m.ID+".mp4", modified, body)
}

// segmentIndex builds a sidx box with one reference per segment, timed by
// the lead track.
func segmentIndex(lead *fmp4.InitTrack, segs []recorder.Segment) ([]byte, error) {
	ts := float64(lead.TimeScale)
	box := &amp4.Sidx{
		FullBox:                    amp4.FullBox{Version: 1},
		ReferenceID:                uint32(lead.ID),
		Timescale:                  lead.TimeScale,
		EarliestPresentationTimeV1: uint64(math.Round(segs[0].StartS * ts)),
		ReferenceCount:             uint16(len(segs)),
	}
	if len(segs) > math.MaxUint16 {
		return nil, errors.New("too many segments for one index")
	}
	for _, sg := range segs {
		box.References = append(box.References, amp4.SidxReference{
			ReferencedSize:     uint32(sg.Size),
			SubsegmentDuration: uint32(math.Round(sg.DurationS * ts)),
			StartsWithSAP:      true,
			SAPType:            1,
		})
	}
	var payload bytes.Buffer
	if _, err := amp4.Marshal(&payload, box, amp4.Context{}); err != nil {
		return nil, err
	}
	out := make([]byte, 8, 8+payload.Len())
	size := uint32(8 + payload.Len())
	out[0], out[1], out[2], out[3] = byte(size>>24), byte(size>>16), byte(size>>8), byte(size)
	copy(out[4:], "sidx")
	return append(out, payload.Bytes()...), nil
}

// part is a piece of a concatenated body: bytes in memory or a file.
type part struct {
	mem  []byte
	path string
	size int64
}

// concat is an io.ReadSeeker over parts, opening one file at a time.
type concat struct {
	parts []part
	size  int64
	off   int64
	open  *os.File
	which int
}

func newConcat(parts []part) *concat {
	c := &concat{parts: parts, which: -1}
	for _, p := range parts {
		c.size += p.size
	}
	return c
}

func (c *concat) Read(b []byte) (int, error) {
	if c.off >= c.size {
		return 0, io.EOF
	}
	start := int64(0)
	for i, p := range c.parts {
		if c.off >= start+p.size {
			start += p.size
			continue
		}
		want := min(int64(len(b)), start+p.size-c.off)
		var n int
		var err error
		if p.mem != nil {
			n = copy(b[:want], p.mem[c.off-start:])
		} else {
			if c.which != i {
				if c.open != nil {
					c.open.Close()
				}
				if c.open, err = os.Open(p.path); err != nil {
					c.which = -1
					return 0, err
				}
				c.which = i
			}
			n, err = c.open.ReadAt(b[:want], c.off-start)
			if errors.Is(err, io.EOF) && int64(n) == want {
				err = nil
			}
		}
		c.off += int64(n)
		return n, err
	}
	return 0, io.EOF
}

func (c *concat) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += c.off
	case io.SeekEnd:
		offset += c.size
	}
	if offset < 0 {
		return 0, errors.New("seek before the start")
	}
	c.off = offset
	return offset, nil
}

func (c *concat) Close() error {
	if c.open != nil {
		return c.open.Close()
	}
	return nil
}
