package egress

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/codec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// countingWriter is the leg's pion write stream: it counts what is sent.
type countingWriter struct{ n atomic.Int32 }

func (w *countingWriter) WriteRTP(*rtp.Header, []byte) (int, error) { w.n.Add(1); return 0, nil }
func (w *countingWriter) Write(b []byte) (int, error)               { w.n.Add(1); return len(b), nil }

// leg makes a bound leg with SSRC ssrc over a track holding packets 1..10
// in its cache, and counts the keyframe requests that reach the source.
func leg(t *testing.T, kind fanout.Kind, ssrc uint32) (*Leg, *countingWriter, *atomic.Int32) {
	t.Helper()
	c := codec.Opus
	if kind == fanout.KindVideo {
		c = codec.Codec{MimeType: codec.MimeVP8, ClockRate: 90000}
	}
	tr := fanout.NewTrack(fanout.TrackParams{ID: kind.String(), Kind: kind, Codec: c, KeyframeInterval: time.Millisecond})
	t.Cleanup(tr.Close)
	requests := &atomic.Int32{}
	tr.SetSource(fanout.KeyframeRequesterFunc(func() { requests.Add(1) }))
	for seq := uint16(1); seq <= 10; seq++ {
		tr.Write(&fanout.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: []byte{0x10, 0x01}})
	}
	w := &countingWriter{}
	l := New(tr, Params{StreamID: "s"})
	l.ssrc, l.ws = ssrc, w
	return l, w, requests
}

// pion hands a sender every compound RTCP packet in which any part names
// it, so each leg must act only on the parts that name its own SSRC: a
// viewer's compound with the audio SSRC in its receiver report and a video
// NACK must not make the audio leg resend (it did, before the check).
func TestRTCPIsActedOnOnlyForTheLegsSSRC(t *testing.T) {
	const audioSSRC, videoSSRC = 1111, 2222
	audio, aw, _ := leg(t, fanout.KindAudio, audioSSRC)
	video, vw, vreq := leg(t, fanout.KindVideo, videoSSRC)
	before := vreq.Load()

	compound := []rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: audioSSRC}, {SSRC: videoSSRC}}},
		&rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: videoSSRC, Nacks: []rtcp.NackPair{{PacketID: 3, LostPackets: 0b11}}},
		&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: videoSSRC},
	}
	for _, p := range compound {
		audio.handleRTCP(p)
	}
	if n := aw.n.Load(); n != 0 {
		t.Fatalf("the audio leg resent %d packets for a NACK naming the video SSRC", n)
	}
	for _, p := range compound {
		video.handleRTCP(p)
	}
	if n := vw.n.Load(); n != 3 {
		t.Fatalf("the video leg resent %d packets for a NACK of 3, want 3", n)
	}
	waitFor(t, func() bool { return vreq.Load() > before }, "the video leg's PLI to reach the source")

	// A PLI or FIR naming another SSRC asks nothing.
	time.Sleep(20 * time.Millisecond) // past the coalescing interval
	before = vreq.Load()
	video.handleRTCP(&rtcp.PictureLossIndication{MediaSSRC: audioSSRC})
	video.handleRTCP(&rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: audioSSRC}}})
	time.Sleep(20 * time.Millisecond)
	if got := vreq.Load(); got != before {
		t.Fatalf("a PLI/FIR naming another SSRC asked the source for %d keyframes", got-before)
	}
	// RFC 5104 §4.3.1: a FIR names the sender in its entries, not MediaSSRC.
	video.handleRTCP(&rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: videoSSRC, SequenceNumber: 1}}})
	waitFor(t, func() bool { return vreq.Load() > before }, "the FIR to reach the source")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A NACK storm costs a bounded multiple of the stream's rate: the same
// packets NACKed again and again are resent once per resendGap, and a
// flood of NACKs for distinct packets stops at the leg's budget; what is
// resent counts as the leg's output and the rest as refused.
func TestNACKStormIsBudgeted(t *testing.T) {
	tr := fanout.NewTrack(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: codec.Codec{MimeType: codec.MimeVP8, ClockRate: 90000}})
	defer tr.Close()
	payload := make([]byte, 1200)
	for seq := uint16(0); seq < 2000; seq++ {
		tr.Write(&fanout.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: payload})
	}
	w := &countingWriter{}
	l := New(tr, Params{StreamID: "s"})
	l.ssrc, l.ws = 1, w
	everything := func(from, n uint16) *rtcp.TransportLayerNack {
		nk := &rtcp.TransportLayerNack{MediaSSRC: 1}
		for s := from; s < from+n; s += 17 {
			nk.Nacks = append(nk.Nacks, rtcp.NackPair{PacketID: s, LostPackets: 0xffff})
		}
		return nk
	}
	// The same 10 packets, NACKed 1,000 times at once: resent once each.
	for i := 0; i < 1000; i++ {
		l.handleRTCP(&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: 1900, LostPackets: 0x1ff}}})
	}
	if n := w.n.Load(); n != 10 {
		t.Fatalf("10 packets NACKed 1,000 times were resent %d times, want 10", n)
	}
	const cacheHeld = 512 // the newest packets are surely in the track's cache
	// A NACK of every packet in the cache, repeated: stops at the burst
	// budget (128 KiB, about 100 packets of 1.2 KB), not 1,000s.
	for i := 0; i < 50; i++ {
		l.handleRTCP(everything(2000-cacheHeld, cacheHeld))
	}
	resent := w.n.Load() - 10
	if budget := int32(resendBurst/1212 + 2); resent > budget || resent < budget/2 {
		t.Fatalf("a storm of NACKs for every packet resent %d packets; the budget holds about %d", resent, budget)
	}
	if tr.Stats().NACKsRefused.Load() == 0 {
		t.Fatal("refused retransmissions are not counted")
	}
}
