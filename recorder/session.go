package recorder

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/pion/rtp"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/codec"
)

// inPacket is a copy of a fanout packet for the session's goroutine.
type inPacket struct {
	tr *mp4Track
	p  rtp.Packet
	at time.Time
}

// trackWriter is the fanout.Writer of one recorded track: it copies each
// packet (fanout owns the original) and hands it to the session. It blocks
// while the session is busy on disk; the track's queue then drops for the
// recording alone, never for viewers.
type trackWriter struct {
	s  *session
	tr *mp4Track
}

func (w *trackWriter) WritePacket(p *fanout.Packet) error {
	in := inPacket{tr: w.tr, p: rtp.Packet{Header: p.Header.Clone(), Payload: bytes.Clone(p.Payload)}, at: time.Unix(0, p.Received)}
	select {
	case w.s.in <- in:
		return nil
	case <-w.s.quit:
		return errors.New("recording stopped")
	}
}

// session is one recording of one stream. Lifecycle: start → run (until
// the stream ends, stop, or a write fails) → finish.
type session struct {
	r      *Recorder
	stream *fanout.Stream
	dir    string
	meta   Meta
	tracks []*mp4Track
	video  *mp4Track // the track that cuts segments: video if any
	// videoSrc is the fanout track of video, asked for a keyframe when a
	// segment reaches its target length; askedAt is the open segment's
	// length at the last ask (-1: not asked since the last cut).
	videoSrc *fanout.Track
	askedAt  int64

	subs     []*fanout.Subscriber
	in       chan inPacket
	quit     chan struct{} // closed by stop, or by run when it ends by itself
	quitOnce sync.Once
	done     chan struct{} // closed when run has finished

	t0      time.Time // arrival of the first keyframe: the recording's zero
	segs    int
	written bool // init.mp4 is on disk
}

// startSession subscribes to the stream's tracks and starts writing into a
// new recording folder.
func (r *Recorder) startSession(st *fanout.Stream) (*session, error) {
	s := &session{r: r, stream: st, in: make(chan inPacket, 256), quit: make(chan struct{}), done: make(chan struct{}), askedAt: -1}
	var sources []*fanout.Track
	for _, t := range st.Tracks() {
		tr, err := newTrackRec(len(s.tracks)+1, t)
		if err != nil {
			r.p.Log.Warn("recording without a track", "stream", st.Name(), "track", t.ID(), "err", err)
			continue
		}
		s.tracks, sources = append(s.tracks, tr), append(sources, t)
		if tr.kind == fanout.KindVideo && s.video == nil {
			s.video, s.videoSrc = tr, t
		}
	}
	if len(s.tracks) == 0 {
		return nil, fmt.Errorf("stream %q has no track that can be recorded", st.Name())
	}
	if s.video == nil {
		s.video = s.tracks[0]
	}
	start := time.Now().UTC()
	id, dir, err := r.newFolder(st.Name(), start)
	if err != nil {
		return nil, err
	}
	s.dir = dir
	s.meta = Meta{Stream: st.Name(), ID: id, Start: start, End: start, Live: true, Segments: []Segment{}}
	for _, tr := range s.tracks {
		s.meta.Codecs = append(s.meta.Codecs, tr.conv.name())
	}
	for i, t := range sources {
		if sub, err := t.Subscribe(&trackWriter{s: s, tr: s.tracks[i]}); err == nil {
			s.subs = append(s.subs, sub)
		}
	}
	go s.run()
	return s, nil
}

// stop ends the recording and waits until its last segment is written.
func (s *session) stop() {
	s.quitOnce.Do(func() { close(s.quit) })
	<-s.done
}

// run is the session's goroutine: it takes packets until the stream ends
// or the session is stopped, then writes what remains.
func (s *session) run() {
	defer close(s.done)
	defer func() {
		// Unsubscribe: writers blocked on s.in return once quit is closed.
		s.quitOnce.Do(func() { close(s.quit) })
		for _, sub := range s.subs {
			sub.Close()
		}
	}()
	var err error
	for err == nil {
		select {
		case in := <-s.in:
			err = s.packet(in)
		case <-s.stream.Done():
			err = errStreamEnded
		case <-s.quit:
			err = errStopped
		}
	}
	if errors.Is(err, errStreamEnded) || errors.Is(err, errStopped) {
		for _, tr := range s.tracks {
			tr.finish()
		}
		err = s.cut()
	}
	s.meta.Live = false
	if err != nil {
		s.r.failed(s, err)
	}
	if s.segs == 0 {
		s.r.discard(s.dir) // nothing playable was written
	} else if ierr := writeIndex(s.r.p.FS, s.dir, &s.meta); ierr != nil && err == nil {
		s.r.failed(s, ierr)
	}
	s.r.ended(s)
}

var (
	errStreamEnded = errors.New("stream ended")
	errStopped     = errors.New("stopped")
)

// packet takes one packet: the recording starts at the first keyframe of
// its video (so it opens on a decodable picture), other tracks start with
// their first packet received after that.
func (s *session) packet(in inPacket) error {
	tr := in.tr
	if s.t0.IsZero() {
		if tr != s.video || (tr.kind == fanout.KindVideo && !codec.IsKeyframe(tr.mime, in.p.Payload)) {
			return nil
		}
		s.t0 = in.at
	}
	if !tr.started {
		if in.at.Before(s.t0) {
			return nil
		}
		tr.begin(&in.p, in.at, s.t0)
	}
	for _, t := range tr.push(&in.p) {
		tr.add(t) // t waits as pending: the segment so far ends before it
		// 10 ms of slack: a keyframe a tick early still closes its segment.
		if tr == s.video && !t.s.IsNonSyncSample && tr.duration()+int64(tr.timescale/100) >= s.r.segmentUnits(tr) {
			if err := s.cut(); err != nil {
				return err
			}
		}
	}
	if tr == s.video {
		s.askForKeyframe(tr)
	}
	return nil
}

// askForKeyframe asks the publisher for a keyframe once the open segment
// has reached its target length, and again every half segment until one
// comes: a browser sends keyframes only at the start and on request, so a
// recording that waited for one would never cut (and nothing would be
// listed until the stream ended). The track's coalescer bounds what
// reaches the publisher, together with its viewers' requests.
func (s *session) askForKeyframe(tr *mp4Track) {
	if s.videoSrc == nil || tr.kind != fanout.KindVideo {
		return
	}
	target := s.r.segmentUnits(tr)
	if d := tr.duration(); d >= target && (s.askedAt < 0 || d-s.askedAt >= target/2) {
		s.askedAt = d
		s.videoSrc.RequestKeyframe()
	}
}

// cut writes the open segment (init.mp4 first, once) and the index.
func (s *session) cut() error {
	s.askedAt = -1
	var part fmp4.Part
	for _, tr := range s.tracks {
		if pt := tr.take(); pt != nil {
			part.Tracks = append(part.Tracks, pt)
		}
	}
	if len(part.Tracks) == 0 {
		return nil
	}
	if !s.written {
		if err := s.writeInit(); err != nil {
			return err
		}
	}
	s.segs++
	part.SequenceNumber = uint32(s.segs)
	var buf seekablebuffer.Buffer
	if err := part.Marshal(&buf); err != nil {
		return err
	}
	name := segmentName(s.segs)
	if err := writeFileAtomic(s.r.p.FS, filepath.Join(s.dir, name), buf.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	start, dur := s.span(&part)
	s.meta.Segments = append(s.meta.Segments, Segment{Name: name, StartS: start, DurationS: dur, Size: int64(buf.Len())})
	s.meta.DurationS = start + dur
	s.meta.End = s.meta.Start.Add(time.Duration(s.meta.DurationS * float64(time.Second)))
	s.meta.Size += int64(buf.Len())
	s.r.wrote(int64(buf.Len()))
	return writeIndex(s.r.p.FS, s.dir, &s.meta)
}

// span is a part's start and length in seconds, by the cutting track (or
// the first track in it).
func (s *session) span(p *fmp4.Part) (start, dur float64) {
	pt, ts := p.Tracks[0], s.tracks[p.Tracks[0].ID-1].timescale
	for _, t := range p.Tracks {
		if t.ID == s.video.id {
			pt, ts = t, s.video.timescale
		}
	}
	var d uint64
	for _, smp := range pt.Samples {
		d += uint64(smp.Duration)
	}
	return float64(pt.BaseTime) / float64(ts), float64(d) / float64(ts)
}

func (s *session) writeInit() error {
	init := fmp4.Init{}
	for _, tr := range s.tracks {
		c := tr.conv.codec()
		if c == nil {
			return fmt.Errorf("track %d (%s): no codec parameters in the stream", tr.id, tr.conv.name())
		}
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: tr.id, TimeScale: tr.timescale, Codec: c})
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return err
	}
	raw := buf.Bytes()
	for _, tr := range s.tracks {
		if p, ok := tr.conv.(interface{ patchInit([]byte) []byte }); ok {
			raw = p.patchInit(raw)
		}
	}
	if err := writeFileAtomic(s.r.p.FS, filepath.Join(s.dir, InitName), raw); err != nil {
		return fmt.Errorf("write %s: %w", InitName, err)
	}
	s.written = true
	return nil
}
