package fanout

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaymesh/relaymesh/internal/codec"
)

// ErrTrackClosed is returned when subscribing to a track that has ended.
var ErrTrackClosed = errors.New("track closed")

// KeyframeRequester asks a track's source for a keyframe. Implementations
// must not block: a PLI or FIR written to a socket, a flag set for an encoder.
type KeyframeRequester interface {
	RequestKeyframe()
}

// KeyframeRequesterFunc adapts a function to KeyframeRequester.
type KeyframeRequesterFunc func()

// RequestKeyframe calls f.
func (f KeyframeRequesterFunc) RequestKeyframe() { f() }

// TrackParams configures a Track.
type TrackParams struct {
	ID    string // unique within the stream, e.g. "video"
	Kind  Kind
	Codec Codec
	// KeyframeInterval bounds upstream keyframe requests; zero means
	// DefaultKeyframeInterval.
	KeyframeInterval time.Duration
	// QueueLen is each subscriber's queue length in packets; zero means
	// DefaultQueueLen.
	QueueLen int
}

// Track is one media track of a stream: one producer, many subscribers.
//
// Lifecycle: NewTrack → (SetSource, Write)* → Close. Write is called by one
// goroutine only, the source's read loop (while a standby takes over, the
// old source's and the new one's, which deliveries keep apart); every
// other method is safe from any goroutine. Close ends every subscriber
// and waits for their goroutines.
type Track struct {
	id       string
	kind     Kind
	codec    Codec
	queueLen int

	subs atomic.Pointer[[]*Subscriber] // copy-on-write; read lock-free by Write

	// A standby source (Registry.Standby) writes into tracks of its own
	// (inputs) whose out is the stream's track they will feed. feeder is
	// the track whose writes this one delivers: itself, or the input of
	// the standby that took over; the writes of any other are dropped.
	// wmu orders deliveries, so a switch falls between two packets.
	out    atomic.Pointer[Track] // set when the standby takes over
	feeder atomic.Pointer[Track]
	onKey  atomic.Pointer[func()] // an armed standby's: called at a keyframe, before it is delivered
	wmu    sync.Mutex
	mu     sync.Mutex // serialises changes to subs and closed
	closed bool
	done   chan struct{}

	cache  packetCache
	isKey  func([]byte) bool // nil for audio
	kf     coalescer
	source atomic.Pointer[KeyframeRequester]
	rw     Continuity // Write's goroutine only
	// The previous packet delivered, for frameEnds; under wmu.
	lastTS     uint32
	lastMarked bool
	newSrc     atomic.Bool
	stats      TrackStats
	keyframe   atomic.Int64 // unix nanos of the last keyframe written

	// Bitrate over the last full second; window fields are Write's only.
	bitrate     atomic.Uint64
	windowStart time.Time
	windowBytes uint64

	retired OutTotals // of subscribers that have left; guarded by mu
}

// OutTotals add up what a track's subscribers have sent and lost.
type OutTotals struct {
	Packets, Bytes, Dropped uint64
}

// TrackStats are counters readable at any time.
type TrackStats struct {
	PacketsIn        atomic.Uint64
	BytesIn          atomic.Uint64
	KeyframeRequests atomic.Uint64 // requests sent upstream, after coalescing
	NACKsServed      atomic.Uint64 // retransmissions served from the cache
	NACKsMissed      atomic.Uint64 // requested packets the cache no longer had
	NACKsRefused     atomic.Uint64 // repeated too soon, or past a leg's budget
}

// DefaultQueueLen is a subscriber's queue in packets: about one second of a
// 2 Mbit/s video track, enough to ride out a scheduling hiccup.
const DefaultQueueLen = 256

// NewTrack makes a track with no source and no subscribers.
func NewTrack(p TrackParams) *Track {
	if p.KeyframeInterval <= 0 {
		p.KeyframeInterval = DefaultKeyframeInterval
	}
	if p.QueueLen <= 0 {
		p.QueueLen = DefaultQueueLen
	}
	t := &Track{id: p.ID, kind: p.Kind, codec: p.Codec, queueLen: p.QueueLen, done: make(chan struct{}),
		lastMarked: true} // no frame open before the first packet
	if p.Kind == KindVideo {
		t.isKey = codec.KeyframeFunc(p.Codec.MimeType)
	}
	t.rw.ClockRate = p.Codec.ClockRate
	t.kf.interval = p.KeyframeInterval
	t.kf.send = t.sendKeyframeRequest
	empty := []*Subscriber{}
	t.subs.Store(&empty)
	t.feeder.Store(t)
	return t
}

// ID, Kind and Codec describe the track; they never change.
func (t *Track) ID() string         { return t.id }
func (t *Track) Kind() Kind         { return t.kind }
func (t *Track) Codec() Codec       { return t.codec }
func (t *Track) Stats() *TrackStats { return &t.stats }

// Done is closed when the track has been closed.
func (t *Track) Done() <-chan struct{} { return t.done }

// feedFrom makes from (t itself, or a standby's input) the source whose
// writes t delivers, from the next packet on, as a new continuity epoch
// with from's keyframe requester.
func (t *Track) feedFrom(from *Track) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.feeder.Swap(from) == from {
		return
	}
	t.newSrc.Store(true)
	if kr := from.source.Load(); kr != nil && from != t {
		t.source.Store(kr)
	}
}

// SetSource attaches a new producer. Packets written after it start a new
// continuity epoch: subscribers see one stream across the change.
func (t *Track) SetSource(kr KeyframeRequester) {
	if kr == nil {
		t.source.Store(nil)
		return
	}
	t.source.Store(&kr)
	t.newSrc.Store(true)
	if out := t.out.Load(); out != nil && out.feeder.Load() == t {
		out.source.Store(&kr)
	}
	if t.onKey.Load() != nil {
		t.RequestKeyframe() // armed before it had a source to ask
	}
}

// Write distributes p to every subscriber. p must not be modified by anyone
// after the call. Write never blocks: a subscriber whose queue is full loses
// the packet and counts it.
func (t *Track) Write(p *Packet) {
	if h := t.onKey.Load(); h != nil && t.isKey != nil && t.isKey(p.Payload) {
		(*h)() // a standby taking over: this keyframe is the first packet it delivers
	}
	if out := t.out.Load(); out != nil {
		out.deliver(p, t)
		return
	}
	t.deliver(p, t) // a standby's input before it takes over: no one subscribes
}

// deliver is Write for the packets of from: dropped unless from is the
// track's feeder.
func (t *Track) deliver(p *Packet, from *Track) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.feeder.Load() != from {
		return // a source switched away from, or a standby not yet live
	}
	now := time.Now()
	if t.newSrc.Swap(false) {
		t.rw.MarkNewSource()
	}
	// Extension ids are per leg (RFC 8285 §6) and padding belongs to the
	// sender's own pacing (RFC 3550 §5.1): neither travels on, whatever
	// the source (a WHIP leg, an RTSP camera, an RTMP converter).
	p.Header.Extension, p.Header.Extensions, p.Header.ExtensionProfile = false, nil, 0
	p.Header.Padding, p.Header.PaddingSize = false, 0
	h := HeaderFields{SSRC: p.Header.SSRC, Seq: p.Header.SequenceNumber, TS: p.Header.Timestamp}
	t.rw.Rewrite(&h, now)
	p.Header.SSRC, p.Header.SequenceNumber, p.Header.Timestamp = h.SSRC, h.Seq, h.TS
	p.Received = now.UnixNano()

	if t.isKey != nil && t.isKey(p.Payload) {
		t.keyframe.Store(now.UnixNano())
		t.kf.keyframeSeen(now)
	}
	p.ends, p.audio = t.frameEnds(p), t.kind == KindAudio
	t.cache.put(p)
	t.stats.PacketsIn.Add(1)
	t.stats.BytesIn.Add(uint64(len(p.Payload)))
	t.windowBytes += uint64(len(p.Payload))
	if el := now.Sub(t.windowStart); el >= time.Second {
		if !t.windowStart.IsZero() {
			t.bitrate.Store(uint64(float64(t.windowBytes*8) / el.Seconds()))
		}
		t.windowStart, t.windowBytes = now, 0
	}

	for _, s := range *t.subs.Load() {
		s.offer(p)
	}
}

// frameEnds says whether p closes a burst of the source: every audio
// packet, and a video frame's last, which carries the marker (RFC 6184
// §5.1, RFC 7741 §4.1, RFC 9628 §4.1). A video packet with a new
// timestamp after a frame whose marker never came (lost, or a source that
// sets none) closes it too, late by one frame at worst. Under wmu.
func (t *Track) frameEnds(p *Packet) bool {
	ends := t.kind != KindVideo || p.Header.Marker || (p.Header.Timestamp != t.lastTS && !t.lastMarked)
	t.lastTS, t.lastMarked = p.Header.Timestamp, p.Header.Marker
	return ends
}

// Lookup returns the cached packet with sequence number seq (as subscribers
// see it), or nil, for answering a NACK; the caller counts the outcome in
// Stats.
func (t *Track) Lookup(seq uint16) *Packet { return t.cache.get(seq) }

// RequestKeyframe asks the source for a keyframe, coalesced with every other
// request of the interval. Safe from any goroutine; never blocks.
func (t *Track) RequestKeyframe() {
	if t.kind != KindVideo {
		return
	}
	t.kf.request(time.Now())
}

func (t *Track) sendKeyframeRequest() {
	if kr := t.source.Load(); kr != nil {
		t.stats.KeyframeRequests.Add(1)
		(*kr).RequestKeyframe()
	}
}

// LastKeyframe is when the last keyframe passed, zero if none has.
func (t *Track) LastKeyframe() time.Time {
	n := t.keyframe.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Bitrate is the payload bitrate in bit/s over the last full second.
func (t *Track) Bitrate() uint64 { return t.bitrate.Load() }

// Backlog is how many packets wait in the subscribers' queues: a writer
// that waits for it to reach 0 cannot overrun a subscriber that keeps up.
func (t *Track) Backlog() int {
	n := 0
	for _, s := range *t.subs.Load() {
		if s.sess != nil {
			n += s.sess.pending() // the other subscriptions' too: an upper bound
		} else {
			n += len(s.q)
		}
	}
	return n
}

// Out returns the totals of every subscriber the track has had. They only
// grow: a subscriber's counts move into the track's when it leaves.
func (t *Track) Out() OutTotals {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.retired
	for _, s := range *t.subs.Load() {
		o.Packets += s.stats.Packets.Load()
		o.Bytes += s.stats.Bytes.Load()
		o.Dropped += s.stats.Dropped.Load()
	}
	return o
}

// Subscribers returns the number of current subscribers.
func (t *Track) Subscribers() int { return len(*t.subs.Load()) }

// Subscribe adds w as a subscriber. Its goroutine starts at once and ends
// with Subscriber.Close or Track.Close. A new video subscriber triggers a
// (coalesced) keyframe request so its decoder can start.
func (t *Track) Subscribe(w Writer) (*Subscriber, error) {
	return t.subscribe(newSubscriber(t, w, t.queueLen))
}

// SubscribeIn adds w as a subscriber whose packets go through sess's
// queue and goroutine (session.go); otherwise as Subscribe.
func (t *Track) SubscribeIn(sess *Session, w Writer) (*Subscriber, error) {
	s := newSubscriber(t, w, 0)
	s.sess = sess
	return t.subscribe(s)
}

func (t *Track) subscribe(s *Subscriber) (*Subscriber, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, ErrTrackClosed
	}
	old := *t.subs.Load()
	next := make([]*Subscriber, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	t.subs.Store(&next)
	t.mu.Unlock()
	if s.sess == nil {
		s.start()
	}
	t.RequestKeyframe()
	return s, nil
}

// retire removes a stopped subscriber and keeps its counts. Idempotent.
func (t *Track) retire(s *Subscriber) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.subs.Load()
	next := make([]*Subscriber, 0, len(old))
	found := false
	for _, o := range old {
		if o == s {
			found = true
		} else {
			next = append(next, o)
		}
	}
	if !found {
		return
	}
	t.retired.Packets += s.stats.Packets.Load()
	t.retired.Bytes += s.stats.Bytes.Load()
	t.retired.Dropped += s.stats.Dropped.Load()
	t.subs.Store(&next)
}

// Close ends the track: no more subscribers, every current one is closed and
// its goroutine waited for. Idempotent.
func (t *Track) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	subs := *t.subs.Load()
	close(t.done)
	t.mu.Unlock()
	for _, s := range subs {
		s.stop()
		t.retire(s)
	}
	t.kf.close()
}
