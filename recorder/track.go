package recorder

import (
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/relaymesh/relaymesh/fanout"
)

// maxLate is how many packets the reorder buffer waits for a missing one
// (about half a second of 2 Mbit/s video) before giving the frame up.
const maxLate = 256

// mp4Track is one track of a recording: a reorder buffer (pion's
// samplebuilder), then timing. Sample times come from the track's own RTP
// timestamps, so the recording keeps the publisher's clock and does not
// drift against it however long it runs; only the offset between tracks,
// taken once at the start from arrival times, uses the wall clock.
type mp4Track struct {
	id        int // MP4 track id, from 1
	kind      fanout.Kind
	mime      string
	timescale uint32
	conv      converter
	sb        *samplebuilder.SampleBuilder

	started bool
	base    int64 // unwrapped RTP timestamp of the first packet kept
	offset  int64 // the first packet's time after the recording's start, in timescale units
	last    uint32
	ext     int64 // unwrapped timestamp of the last packet
	needKey bool  // a loss broke the picture chain: skip to the next keyframe
	gapless gapless
	ends    frameEnds // video only

	pending *timed         // the newest sample: its duration needs the next one's time
	samples []*fmp4.Sample // not yet written: the open fragment
	segBase int64          // time of samples[0]
	fragDur int64          // length of samples, kept as they come (O(1) per sample)
	segDur  int64          // length of the open segment, written fragments included
	shift   int64          // subtracted from every time: a rolled-over recording starts at 0
	lastDur uint32         // of the last sample kept

	popped     bool   // a sample has come out of the reorder buffer
	lastPopped uint32 // its RTP timestamp
	flushing   bool   // finish has flushed the reorder buffer
}

type timed struct {
	dts int64
	s   *fmp4.Sample
}

func newTrackRec(id int, t *fanout.Track) (*mp4Track, error) {
	conv, err := newConverter(t.Codec())
	if err != nil {
		return nil, err
	}
	return &mp4Track{id: id, kind: t.Kind(), mime: t.Codec().MimeType, timescale: t.Codec().ClockRate, conv: conv,
		sb: samplebuilder.New(maxLate, conv.depacketizer(), t.Codec().ClockRate)}, nil
}

// begin anchors the track at its first kept packet, received at `at`, with
// the recording started at t0.
func (tr *mp4Track) begin(p *rtp.Packet, at, t0 time.Time) {
	tr.started = true
	tr.last, tr.ext, tr.base = p.Timestamp, int64(p.Timestamp), int64(p.Timestamp)
	tr.offset = at.Sub(t0).Nanoseconds() * int64(tr.timescale) / int64(time.Second)
	tr.needKey = tr.kind == fanout.KindVideo
}

// unwrap extends a 32-bit RTP timestamp to 64 bits, near the last one.
func (tr *mp4Track) unwrap(ts uint32) int64 {
	tr.ext += int64(int32(ts - tr.last))
	tr.last = ts
	return tr.ext
}

// push adds a packet and returns the samples it completed, with their
// times.
func (tr *mp4Track) push(p *rtp.Packet) []timed {
	seq, media := tr.gapless.renumber(p.SequenceNumber, len(p.Payload) == 0)
	if !media {
		return nil
	}
	p.SequenceNumber = seq
	if tr.kind == fanout.KindVideo {
		tr.ends.add(p)
	}
	tr.unwrap(p.Timestamp)
	tr.sb.Push(p)
	return tr.pop()
}

// pop takes the samples the reorder buffer has completed.
func (tr *mp4Track) pop() []timed {
	var out []timed
	for s := tr.sb.Pop(); s != nil; s = tr.sb.Pop() {
		if tr.flushing && tr.popped && s.PacketTimestamp == tr.lastPopped {
			continue // Flush's copy of the last frame (see finish)
		}
		tr.popped, tr.lastPopped = true, s.PacketTimestamp
		if tr.kind == fanout.KindVideo && tr.ends.wasCut(s.PacketTimestamp) {
			tr.needKey = true // a frame that never ended: lost
			continue
		}
		pts := tr.offset + tr.unwrapSample(s.PacketTimestamp) - tr.base
		payload, key, dts, ok := tr.conv.sample(s.Data, pts)
		if !ok {
			continue
		}
		if s.PrevDroppedPackets > 0 && tr.kind == fanout.KindVideo {
			tr.needKey = true
		}
		if tr.needKey && !key {
			continue
		}
		tr.needKey = false
		out = append(out, timed{dts: dts, s: &fmp4.Sample{Payload: payload, IsNonSyncSample: !key, PTSOffset: int32(pts - dts)}})
	}
	return out
}

// unwrapSample extends a sample's timestamp without moving the packet
// reference (samples pop in timestamp order, behind the packets).
func (tr *mp4Track) unwrapSample(ts uint32) int64 {
	return tr.ext + int64(int32(ts-tr.last))
}

// add appends the pending sample now that the next one's time is known.
func (tr *mp4Track) add(t timed) {
	if tr.pending != nil {
		d := t.dts - tr.pending.dts
		if d <= 0 {
			d = 1 // a repeated timestamp: keep decode order
		}
		tr.pending.s.Duration = uint32(d)
		tr.appendSample(*tr.pending)
	}
	tr.pending = &t
}

func (tr *mp4Track) appendSample(t timed) {
	if t.dts < tr.shift {
		return // before a rollover's first keyframe: it belongs to the recording before
	}
	if len(tr.samples) == 0 {
		tr.segBase = t.dts - tr.shift
	}
	tr.samples = append(tr.samples, t.s)
	tr.lastDur = t.s.Duration
	tr.fragDur += int64(t.s.Duration)
	tr.segDur += int64(t.s.Duration)
}

// finish ends the track: the reorder buffer gives up the frame it holds
// back (it waits for the next frame's first packet to know one is
// complete), and the last sample gets the previous one's duration. pion's
// Flush can build the last frame a second time, from the packets after
// its first that it has not let go yet (every RTMP recording ended on two
// frames at one time, which ffmpeg reports as a non-monotonic DTS): a
// sample at the time of the one before is that copy.
func (tr *mp4Track) finish() {
	if tr.started {
		tr.sb.Flush()
		tr.flushing = true
		for _, t := range tr.pop() {
			tr.add(t)
		}
	}
	tr.flushPending()
}

func (tr *mp4Track) flushPending() {
	if tr.pending == nil {
		return
	}
	d := tr.lastDur
	if d == 0 {
		d = tr.timescale / 30
	}
	tr.pending.s.Duration = d
	tr.appendSample(*tr.pending)
	tr.pending = nil
}

// duration is the length of the open segment, in timescale units.
func (tr *mp4Track) duration() int64 { return tr.segDur }

// take hands over the open fragment's samples; segment ends the segment
// too.
func (tr *mp4Track) take(segment bool) *fmp4.PartTrack {
	if segment {
		tr.segDur = 0
	}
	if len(tr.samples) == 0 {
		return nil
	}
	pt := &fmp4.PartTrack{ID: tr.id, BaseTime: uint64(tr.segBase), Samples: tr.samples}
	tr.samples, tr.fragDur = nil, 0
	return pt
}

// drop forgets what is not written yet (a recording paused on a failed
// write resumes at a keyframe).
func (tr *mp4Track) drop() {
	tr.samples, tr.pending, tr.fragDur, tr.segDur = nil, nil, 0, 0
	tr.needKey = tr.kind == fanout.KindVideo
}
