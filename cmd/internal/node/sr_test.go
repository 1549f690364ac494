package node

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// Viewers get sender reports whose RTP/NTP pair matches the wall clock at
// which the packets arrive (the test and the node share one clock), which is
// what lets a player keep audio and video in sync.
func TestSenderReportsMapRTPTimeToWallClock(t *testing.T) {
	video, audio := testMedia(t)
	_, base := startNode(t)
	hc := newHTTPClient(t)
	pub, v := publishAndWatch(t, hc, base, base, "sr")
	pub.send(t, video, audio, 75)
	ssrcs := map[uint32]string{}
	for _, kind := range []string{"video", "audio"} {
		if ps := v.packets(kind); len(ps) > 0 {
			ssrcs[ps[0].ssrc] = kind
		}
	}
	checked := map[string]bool{}
	waitUntil(t, 5*time.Second, "a sender report for each track", func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, sr := range v.srs {
			if kind, ok := ssrcs[sr.SSRC]; ok {
				checked[kind] = true
			}
		}
		return len(checked) == 2
	})
	v.mu.Lock()
	srs := append([]*rtcp.SenderReport(nil), v.srs...)
	v.mu.Unlock()
	verified := map[string]int{}
	for _, sr := range srs {
		kind := ssrcs[sr.SSRC]
		if kind == "" || sr.PacketCount == 0 {
			continue
		}
		clock := 90000.0
		if kind == "audio" {
			clock = 48000
		}
		ntp := time.Unix(int64(sr.NTPTime>>32)-2208988800, int64((sr.NTPTime&0xffffffff)*1e9>>32))
		// Where the SR's mapping puts each packet, against when it arrived.
		worst := time.Duration(0)
		for _, p := range v.packets(kind) {
			predicted := ntp.Add(time.Duration(float64(int32(p.ts-sr.RTPTime)) / clock * float64(time.Second)))
			if d := p.at.Sub(predicted); d.Abs() > worst.Abs() {
				worst = d
			}
		}
		if worst.Abs() > 250*time.Millisecond {
			t.Errorf("%s SR maps RTP %d to %v; packets arrived up to %v away from that mapping", kind, sr.RTPTime, ntp, worst)
		}
		verified[kind]++
	}
	if verified["video"] == 0 || verified["audio"] == 0 {
		t.Fatalf("sender reports with packets checked: %v, want some for video and audio", verified)
	}
}
