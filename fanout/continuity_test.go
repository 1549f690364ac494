package fanout

import (
	"testing"
	"time"
)

func TestRewriterKeepsOneSourceUnchanged(t *testing.T) {
	r := Continuity{ClockRate: 90000}
	now := time.Now()
	for i, seq := range []uint16{65534, 65535, 0, 2, 1} {
		h := HeaderFields{SSRC: 5, Seq: seq, TS: uint32(i * 3000)}
		r.Rewrite(&h, now)
		if h.Seq != seq || h.TS != uint32(i*3000) || h.SSRC != 5 {
			t.Fatalf("packet %d rewritten to %+v", i, h)
		}
	}
}

func TestRewriterContinuesAcrossANewSource(t *testing.T) {
	r := Continuity{ClockRate: 90000}
	t0 := time.Now()
	h := HeaderFields{SSRC: 1, Seq: 100, TS: 1000}
	r.Rewrite(&h, t0)
	h = HeaderFields{SSRC: 1, Seq: 101, TS: 4000}
	r.Rewrite(&h, t0.Add(33*time.Millisecond))

	// The publisher reconnects 2 s later with new random numbering.
	t1 := t0.Add(33*time.Millisecond + 2*time.Second)
	h = HeaderFields{SSRC: 99, Seq: 40000, TS: 123456789}
	r.Rewrite(&h, t1)
	if h.SSRC != 1 {
		t.Fatalf("SSRC %d, want the stream's original 1", h.SSRC)
	}
	if h.Seq != 102 {
		t.Fatalf("first seq after reconnect %d, want 102", h.Seq)
	}
	if want := uint32(4000 + 2*90000); h.TS != want {
		t.Fatalf("first ts after reconnect %d, want %d (2 s later)", h.TS, want)
	}
	h = HeaderFields{SSRC: 99, Seq: 40001, TS: 123456789 + 3000}
	r.Rewrite(&h, t1.Add(33*time.Millisecond))
	if h.Seq != 103 || h.TS != 4000+2*90000+3000 {
		t.Fatalf("second packet after reconnect %+v", h)
	}
}

func TestRewriterNewEpochWithSameSSRC(t *testing.T) {
	r := Continuity{ClockRate: 48000}
	t0 := time.Now()
	h := HeaderFields{SSRC: 1, Seq: 10, TS: 960}
	r.Rewrite(&h, t0)
	r.MarkNewSource()
	h = HeaderFields{SSRC: 1, Seq: 5000, TS: 7}
	r.Rewrite(&h, t0.Add(time.Second))
	if h.Seq != 11 || h.TS != 960+48000 {
		t.Fatalf("got %+v, want seq 11 ts %d", h, 960+48000)
	}
}

func TestTrackRewritesForSubscribersAcrossReconnect(t *testing.T) {
	tr := videoTrack(0)
	defer tr.Close()
	c := &collector{}
	if _, err := tr.Subscribe(c); err != nil {
		t.Fatal(err)
	}
	tr.SetSource(KeyframeRequesterFunc(func() {}))
	for i := 0; i < 5; i++ {
		tr.Write(pkt(1, uint16(60000+i), uint32(i*3000)))
	}
	tr.SetSource(KeyframeRequesterFunc(func() {}))
	for i := 0; i < 5; i++ {
		tr.Write(pkt(2, uint16(7+i), uint32(i*3000)))
	}
	waitFor(t, "10 packets", func() bool { return len(c.packets()) == 10 })
	for i, p := range c.packets() {
		if want := uint16(60000 + i); p.Header.SequenceNumber != want || p.Header.SSRC != 1 {
			t.Fatalf("packet %d: seq %d ssrc %d, want seq %d ssrc 1", i, p.Header.SequenceNumber, p.Header.SSRC, want)
		}
	}
}

// A source marked new before its first packet (a publisher's leg calls
// SetSource, then its packets come) passes through unchanged: its first
// frame keeps one timestamp across its packets.
func TestRewriterFirstSourceMarkedBeforeItsFirstPacket(t *testing.T) {
	var r Continuity
	r.ClockRate = 90000
	r.MarkNewSource()
	now := time.Now()
	for i := uint16(0); i < 5; i++ {
		h := HeaderFields{SSRC: 7, Seq: 100 + i, TS: 5000}
		r.Rewrite(&h, now.Add(time.Duration(i)*time.Millisecond))
		if h.Seq != 100+i || h.TS != 5000 || h.SSRC != 7 {
			t.Fatalf("packet %d of the first frame became %+v", i, h)
		}
	}
}
