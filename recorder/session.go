package recorder

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
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
// while the session is busy; the track's queue then drops for the
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

// session records one stream. Lifecycle: startSession → run (until the
// stream ends or stop) → the last segment and the index are written. It
// takes packets in, builds samples and decides where fragments and
// segments end; its writer does the disk work. A failed write pauses the
// recording (backing off) and it resumes into the same recording; past
// -record-max-duration or half of -record-max-size it rolls over into a
// new recording at a keyframe.
type session struct {
	r      *Recorder
	stream *fanout.Stream
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

	w   *writer
	rec atomic.Pointer[recording] // the recording being written

	t0       time.Time // arrival of the first keyframe: the recording's zero
	frags    uint32    // fragments made (fMP4 sequence numbers)
	segs     int       // segments begun in this recording
	segOpen  bool
	segAt    float64 // open segment's start, seconds
	segLen   float64 // and length so far
	segSize  int64
	segNoKey bool    // it does not start with a keyframe
	recLen   float64 // the recording's length and size, as sent to the writer
	recSize  int64
	roll     bool // roll over at the next segment

	epoch       int       // the writer's; a new one after each pause
	pausedUntil time.Time // zero: recording
	backoff     time.Duration
	closedAt    int // segments listed when the last pause began
}

// startSession subscribes to the stream's tracks and makes the recording's
// folder; run, started by the recorder, does the rest.
func (r *Recorder) startSession(st *fanout.Stream) (*session, error) {
	s := &session{r: r, stream: st, in: make(chan inPacket, 256), quit: make(chan struct{}), done: make(chan struct{}), askedAt: -1}
	var sources []*fanout.Track
	top, _ := fanout.TopLayers(st.Tracks())
	for _, t := range top {
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
	rec, err := s.newRecording(time.Now().UTC())
	if err != nil {
		return nil, err
	}
	s.rec.Store(rec)
	s.w = newWriter(r.p.FS, r.wrote)
	for i, t := range sources {
		if sub, err := t.Subscribe(&trackWriter{s: s, tr: s.tracks[i]}); err == nil {
			s.subs = append(s.subs, sub)
		}
	}
	return s, nil
}

// newRecording makes the folder of a recording starting at start. Nothing
// is listed until its first segment is on disk.
func (s *session) newRecording(start time.Time) (*recording, error) {
	id, dir, err := s.r.newFolder(s.stream.Name(), start)
	if err != nil {
		return nil, err
	}
	m := Meta{Stream: s.stream.Name(), ID: id, Start: start, End: start, Live: true, Segments: []Segment{}}
	for _, tr := range s.tracks {
		m.Codecs = append(m.Codecs, tr.conv.name())
	}
	return &recording{dir: dir, meta: m}, nil
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
	defer s.r.ended(s)
	defer s.w.close()
	defer func() {
		// Unsubscribe: writers blocked on s.in return once quit is closed.
		s.quitOnce.Do(func() { close(s.quit) })
		for _, sub := range s.subs {
			sub.Close()
		}
	}()
	for {
		select {
		case in := <-s.in:
			s.packet(in)
			continue
		case <-s.stream.Done():
			s.drain() // select chose the end over packets still queued
		case <-s.quit:
		}
		break
	}
	if s.pausedUntil.IsZero() {
		for _, tr := range s.tracks {
			tr.finish()
		}
		s.flush(true)
	}
	s.send(job{kind: jobFinish, rec: s.rec.Load()})
}

// drain takes the packets already queued: a stream's last ones.
func (s *session) drain() {
	for {
		select {
		case in := <-s.in:
			s.packet(in)
		default:
			return
		}
	}
}

// packet takes one packet: the recording starts at the first keyframe of
// its video (so it opens on a decodable picture), other tracks start with
// their first packet received after that.
func (s *session) packet(in inPacket) {
	if s.paused(in.at) {
		return
	}
	tr := in.tr
	if s.t0.IsZero() {
		if tr != s.video || (tr.kind == fanout.KindVideo && !codec.IsKeyframe(tr.mime, in.p.Payload)) {
			return
		}
		s.t0 = in.at
	}
	if !tr.started {
		if in.at.Before(s.t0) {
			return
		}
		tr.begin(&in.p, in.at, s.t0)
	}
	for _, t := range tr.push(&in.p) {
		tr.add(t) // t waits as pending: the segment so far ends before it
		// 10 ms of slack: a keyframe a tick early still closes its segment.
		if tr == s.video && !t.s.IsNonSyncSample && tr.duration()+int64(tr.timescale/100) >= s.r.segmentUnits(tr) {
			s.flush(true)
			if s.roll {
				s.rollover(t.dts)
			}
		}
	}
	if tr == s.video {
		target := s.r.segmentUnits(tr)
		switch {
		case tr.duration() >= 2*target:
			// Asked and not answered for a whole segment (RTMP and RTSP
			// publishers cannot be asked): cut without a keyframe, so a
			// recording is listed and grows at most two segments late.
			s.flush(true)
		case tr.fragDur >= target/2:
			// Whatever the GOP, at most half a segment waits in memory
			// (and is lost to a kill -9): the open segment grows by
			// fragments.
			s.flush(false)
		}
		s.askForKeyframe(tr)
	}
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

// flush hands the samples so far to the writer as one fragment of the open
// segment; last closes the segment.
func (s *session) flush(last bool) {
	if last {
		s.askedAt = -1
	}
	var part fmp4.Part
	for _, tr := range s.tracks {
		if pt := tr.take(last); pt != nil {
			part.Tracks = append(part.Tracks, pt)
		}
	}
	rec := s.rec.Load()
	if len(part.Tracks) > 0 {
		s.frags++
		part.SequenceNumber = s.frags
		var buf seekablebuffer.Buffer
		if err := part.Marshal(&buf); err != nil {
			s.r.p.Log.Error("recording: a fragment could not be made", "stream", rec.meta.Stream, "err", err)
			return
		}
		j := job{kind: jobFragment, rec: rec, data: buf.Bytes()}
		start, dur := s.span(&part)
		if !s.segOpen {
			init, err := s.initSegment()
			if err != nil {
				s.r.p.Log.Warn("recording: no init segment yet", "stream", rec.meta.Stream, "err", err)
				return
			}
			s.segs++
			s.segOpen, s.segAt, s.segLen, s.segSize = true, start, 0, 0
			s.segNoKey = s.startsWithoutKeyframe(&part)
			j.init = init
		}
		j.name = segmentName(s.segs)
		s.segLen += dur
		s.segSize += int64(len(j.data))
		s.send(j)
	}
	if last && s.segOpen {
		s.segOpen = false
		s.send(job{kind: jobClose, rec: rec, name: segmentName(s.segs),
			seg: Segment{Name: segmentName(s.segs), StartS: s.segAt, DurationS: s.segLen, Size: s.segSize, NoKeyframe: s.segNoKey}})
		s.recLen, s.recSize = s.segAt+s.segLen, s.recSize+s.segSize
		s.roll = s.r.p.MaxDuration > 0 && s.recLen >= s.r.p.MaxDuration.Seconds() ||
			s.r.p.MaxBytes > 0 && s.recSize >= s.r.p.MaxBytes/2
	}
}

func (s *session) send(j job) {
	j.epoch = s.epoch
	s.w.jobs <- j
}

// startsWithoutKeyframe reports whether a part's video begins with a delta
// frame.
func (s *session) startsWithoutKeyframe(p *fmp4.Part) bool {
	for _, t := range p.Tracks {
		if t.ID == s.video.id && len(t.Samples) > 0 {
			return t.Samples[0].IsNonSyncSample
		}
	}
	return false
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

// initSegment is init.mp4 for the tracks as they are now.
func (s *session) initSegment() ([]byte, error) {
	init := fmp4.Init{}
	for _, tr := range s.tracks {
		c := tr.conv.codec()
		if c == nil {
			return nil, fmt.Errorf("track %d (%s): no codec parameters in the stream", tr.id, tr.conv.name())
		}
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: tr.id, TimeScale: tr.timescale, Codec: c})
	}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	for _, tr := range s.tracks {
		if p, ok := tr.conv.(interface{ patchInit([]byte) []byte }); ok {
			raw = p.patchInit(raw)
		}
	}
	return raw, nil
}

// secondsDuration converts seconds to a time.Duration.
func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// abort undoes startSession for a session that never ran.
func (s *session) abort() {
	for _, sub := range s.subs {
		sub.Close()
	}
	s.w.close()
	_ = os.RemoveAll(s.rec.Load().dir)
}
