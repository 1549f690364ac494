package recorder

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/relaymesh/relaymesh/fanout"
)

// An hour of Opus (180,000 packets of 20 ms), with the 32-bit RTP clock
// wrapping midway: every sample lands exactly on the publisher's clock, so
// a long recording does not drift, and the wrap leaves no gap or jump.
func TestAnHourKeepsThePublishersClock(t *testing.T) {
	tr, err := newTrackRec(1, fanout.NewTrack(fanout.TrackParams{ID: "audio", Kind: fanout.KindAudio,
		Codec: fanout.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2}}))
	if err != nil {
		t.Fatal(err)
	}
	const packets = 180000
	start := uint32(1<<32 - 48000*1800) // wraps after 30 minutes
	t0 := time.Now()
	var all []timed
	for i := 0; i < packets; i++ {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: start + uint32(i)*960, Marker: true}, Payload: []byte{0xfc, byte(i)}}
		if i == 0 {
			tr.begin(p, t0, t0)
		}
		all = append(all, tr.push(p)...)
	}
	tr.sb.Flush()
	all = append(all, tr.pop()...)
	if len(all) != packets {
		t.Fatalf("%d samples out of %d packets", len(all), packets)
	}
	for i, s := range all {
		if s.dts != int64(i)*960 {
			t.Fatalf("sample %d at %d, want %d: %d ticks of drift", i, s.dts, int64(i)*960, s.dts-int64(i)*960)
		}
	}
}

// A browser probing for bandwidth sends padding-only packets on the video's
// SSRC, here 16 after every frame (as Chromium did in the test that found
// it): every frame is still recorded, none waits for a keyframe that, with
// nobody watching, would never come. A real loss still does.
func TestPaddingIsNoLoss(t *testing.T) {
	tr, err := newTrackRec(1, fanout.NewTrack(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo,
		Codec: fanout.Codec{MimeType: "video/H264", ClockRate: 90000}}))
	if err != nil {
		t.Fatal(err)
	}
	idr := []byte{0x65, 0x88, 0x84, 0x00}
	slice := []byte{0x41, 0x9a, 0x02, 0x00}
	var seq uint16 = 65000 // wraps on the way
	t0 := time.Now()
	var got []timed
	send := func(payload []byte, ts uint32, marker bool) {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: payload}
		seq++
		if !tr.started {
			tr.begin(p, t0, t0)
		}
		got = append(got, tr.push(p)...)
	}
	const frames = 300
	for i := 0; i < frames; i++ {
		ts := uint32(i * 3000)
		switch {
		case i == 0:
			send(idr, ts, true)
		case i == 200:
			seq++ // a real loss: the frame's packet never comes
			continue
		default:
			send(slice, ts, true)
		}
		for k := 0; k < 16; k++ {
			send(nil, ts, false)
		}
	}
	tr.sb.Flush()
	got = append(got, tr.pop()...)
	// Frames 0 to 199 are kept; the loss at 200 leaves the rest waiting
	// for a keyframe.
	if len(got) != 200 {
		t.Fatalf("%d frames recorded of 300 with padding between them and a loss at frame 200; want the 200 before the loss", len(got))
	}
}

// The last frame of a stream is recorded once: the reorder buffer's Flush
// can build it a second time from packets it has not let go yet (seen as
// the last two frames of every RTMP recording sharing one time, which
// ffmpeg reports as a non-monotonic DTS).
func TestLastFrameOnce(t *testing.T) {
	tr, err := newTrackRec(1, fanout.NewTrack(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo,
		Codec: fanout.Codec{MimeType: "video/H264", ClockRate: 90000}}))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for i := 0; i < 30; i++ {
		for k := 0; k < 3; k++ { // three slices a frame, the marker on the last
			payload := []byte{0x41, 0x9a, byte(i)}
			if i == 0 {
				payload = []byte{0x65, 0x88, 0x84}
			}
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(3*i + k), Timestamp: uint32(i * 3000), Marker: k == 2}, Payload: payload}
			if !tr.started {
				tr.begin(p, t0, t0)
			}
			for _, s := range tr.push(p) {
				tr.add(s)
			}
		}
	}
	tr.finish()
	if len(tr.samples) != 30 {
		t.Fatalf("%d samples of 30 frames", len(tr.samples))
	}
}

// A packet that comes twice (a publisher without RTX resends a NACKed
// packet on its own SSRC; the first copy was only late) is recorded once:
// pion's sample builder once built the frames after it again, and the
// recording went back in time.
func TestDuplicatesAreRecordedOnce(t *testing.T) {
	tr, err := newTrackRec(1, fanout.NewTrack(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo,
		Codec: fanout.Codec{MimeType: "video/H264", ClockRate: 90000}}))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var sent []*rtp.Packet
	var times []int64
	push := func(p *rtp.Packet) {
		c := *p
		if !tr.started {
			tr.begin(&c, t0, t0)
		}
		for _, s := range tr.push(&c) {
			times = append(times, s.dts+int64(s.s.PTSOffset))
		}
	}
	for i := 0; i < 60; i++ {
		for k := 0; k < 3; k++ {
			payload := []byte{0x41, 0x9a, byte(i)}
			if i == 0 {
				payload = []byte{0x65, 0x88, 0x84}
			}
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(65500 + 3*i + k), Timestamp: uint32(i * 3000), Marker: k == 2}, Payload: payload}
			sent = append(sent, p)
			push(p)
			if i%10 == 5 && k == 2 {
				push(sent[len(sent)-7]) // a copy of a packet two frames back
			}
		}
	}
	tr.flushing = true // as finish does
	tr.sb.Flush()
	for _, s := range tr.pop() {
		times = append(times, s.dts+int64(s.s.PTSOffset))
	}
	if len(times) != 60 {
		t.Fatalf("%d samples of 60 frames with copies among them", len(times))
	}
	for i := 1; i < len(times); i++ {
		if times[i] <= times[i-1] {
			t.Fatalf("sample %d at %d after %d: back in time", i, times[i], times[i-1])
		}
	}
}

// A padding packet that comes after media numbered above it leaves its
// gap (a loss: the track waits for a keyframe) rather than shifting the
// numbers of packets already handed on, which made a later packet take an
// earlier one's number and a frame be built without it.
func TestLatePaddingNeverBreaksAFrame(t *testing.T) {
	var g gapless
	var out []uint16
	take := func(seq uint16, padding bool) {
		if s, ok := g.renumber(seq, padding); ok {
			out = append(out, s)
		}
	}
	take(10, false)
	take(11, true) // in order: its gap closes
	take(13, false)
	take(12, true) // late: after 13
	take(14, false)
	take(15, false)
	seen := map[uint16]bool{}
	for _, s := range out {
		if seen[s] {
			t.Fatalf("two packets numbered %d: %v", s, out)
		}
		seen[s] = true
	}
	// 11's gap is closed (13 becomes 12); the late 12 leaves its gap at 11.
	if fmt.Sprint(out) != "[10 12 13 14]" {
		t.Fatalf("numbers %v, want [10 12 13 14]", out)
	}
}
