package recorder

import (
	"time"
)

// A failed write (a full disk, say) pauses the recording: packets are let
// go, nothing half-written is listed, and after a backoff (1 s, doubling to
// 30 s while writes keep failing) it resumes at the next keyframe into the
// same recording, which then has a gap. Before, every failure ended the
// recording and the next second began a new, empty one: seven in 20 s on
// a full disk, each listed.
const maxBackoff = 30 * time.Second

// paused reports whether the packet that came at now is let go: the
// writer has failed this epoch, or the backoff has not run out.
func (s *session) paused(now time.Time) bool {
	if s.pausedUntil.IsZero() {
		err := s.w.failure(s.epoch)
		if err == nil {
			return false
		}
		listed := s.rec.Load().segments()
		if listed > s.closedAt || s.backoff == 0 {
			s.backoff = time.Second // it wrote since the last failure: start over
		} else {
			s.backoff = min(2*s.backoff, maxBackoff)
		}
		s.closedAt = listed
		s.pausedUntil = now.Add(s.backoff)
		for _, tr := range s.tracks {
			tr.drop()
		}
		s.segOpen = false
		s.r.paused(s, err, s.backoff)
		return true
	}
	if now.Before(s.pausedUntil) {
		return true
	}
	s.pausedUntil = time.Time{}
	s.epoch++ // the writer takes work again
	s.askedAt = -1
	if s.videoSrc != nil {
		s.videoSrc.RequestKeyframe() // the tracks resume at a keyframe
	}
	return false
}

// rollover ends the recording at the keyframe whose decode time is keyDTS
// (in the video's units, before any shift) and goes on into a new one that
// starts there at time 0: a recording is bounded by -record-max-duration
// and by half of -record-max-size (so the one before can be kept while the
// new one grows), however long the stream lasts.
func (s *session) rollover(keyDTS int64) {
	s.roll = false
	old := s.rec.Load()
	at := float64(keyDTS) / float64(s.video.timescale)
	start := old.meta.Start.Add(secondsDuration(at - float64(s.video.shift)/float64(s.video.timescale)))
	rec, err := s.newRecording(start)
	if err != nil {
		s.r.p.Log.Warn("recording: cannot roll over; the recording goes on", "stream", s.stream.Name(), "err", err)
		return
	}
	s.send(job{kind: jobFinish, rec: old})
	s.rec.Store(rec)
	for _, tr := range s.tracks {
		tr.shift = int64(at * float64(tr.timescale))
	}
	s.video.shift = keyDTS // exactly: the keyframe opens the new recording
	s.segs, s.recLen, s.recSize = 0, 0, 0
	s.r.stats.Rollovers.Add(1)
	s.r.p.Log.Info("recording rolled over", "stream", s.stream.Name(), "ended", old.id(), "id", rec.id())
}
