package node

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/shaper"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// A simulcast publisher that offers RTX (as Chromium does) gets it in the
// answer, and on an uplink that loses one media packet in 15 the node's
// NACKs are answered on the repair streams: pion binds each to its layer
// and restores the original packets, so a viewer pinned to the top layer
// gets every frame of it, byte for byte. A node that declined RTX would
// leave the answer without it (the publisher would then retransmit on the
// media SSRCs, and no repair packet would pass); one that took RTX but
// did not restore its packets would leave the viewer a frame short for
// every packet lost.
func TestSimulcastPublisherRepairsOverRTX(t *testing.T) {
	n, base := startNode(t)
	sh, err := shaper.New(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: n.engine.UDPPort()}, 0, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sh.Close)
	var rtxPT atomic.Int32
	var media, lost, repairs atomic.Int64
	sh.DropUp(func(b []byte) bool {
		if len(b) < 12 || b[0]>>6 != 2 || b[1]&0x7f >= 64 && b[1]&0x7f <= 95 {
			return false // STUN, DTLS, RTCP (RFC 5761 §4)
		}
		if int32(b[1]&0x7f) == rtxPT.Load() {
			repairs.Add(1)
			return false
		}
		if media.Add(1)%15 == 0 {
			lost.Add(1)
			return true
		}
		return false
	})
	rtxLine := regexp.MustCompile(`a=rtpmap:(\d+) rtx/90000`)
	answer := func(sdp string) string {
		m := rtxLine.FindStringSubmatch(sdp)
		if m == nil {
			t.Error("the answer to a simulcast offer with RTX has no RTX")
		} else {
			pt, _ := strconv.Atoi(m[1])
			rtxPT.Store(int32(pt))
		}
		return sh.Rewrite(sdp)
	}
	pub, err := whipclient.PublishSimulcast(t.Context(), base+"/whip/rtx", whipclient.Options{RTX: true, Offer: func(sdp string) string { return shaper.HideClient(noSSRCs(sdp)) }, Answer: answer}, simulcastLayers, 30)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	waitUntil(t, 10*time.Second, "every video layer at the node", func() bool { return len(layersOf(t, base, "rtx")) == len(simulcastLayers) })
	w, err := whipclient.Watch(t.Context(), base+"/whep/rtx?layer=h", whipclient.Options{KeepPayloads: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	waitUntil(t, 20*time.Second, "150 frames of the top layer and 10 repairs", func() bool { return len(w.Video()) >= 150 && repairs.Load() >= 10 })
	time.Sleep(time.Second) // the last repairs land
	got := map[uint32]bool{}
	var first, last uint32
	for i, a := range w.Video() {
		rid, f, _, ok := whipclient.ParseSimulcastFrame(a.Payload)
		if !ok || rid != "h" {
			t.Fatalf("packet %d at the viewer pinned to h is not a frame of h (%q, %v)", i, rid, ok)
		}
		if i == 0 {
			// The viewer starts at the keyframe of its first packet; a
			// repair of an older frame that comes after it is no hole.
			first = f
		}
		last = max(last, f)
		got[f] = true
	}
	var missing []uint32
	for f := first; f+15 < last; f++ { // the newest may still be under repair
		if !got[f] {
			missing = append(missing, f)
		}
	}
	t.Logf("the uplink lost %d of %d media packets; %d repair packets passed; the viewer got frames %d to %d", lost.Load(), media.Load(), repairs.Load(), first, last)
	if len(missing) > 0 {
		t.Fatalf("the viewer pinned to h is missing frames %v of %d..%d: lost packets were not repaired", missing, first, last)
	}
	// Each lost packet is asked for at most maxNACKs times: pion's NACK
	// generator, which does not see repairs, would ask some twenty.
	if r, l := repairs.Load(), lost.Load(); r > 2*l+5 {
		t.Fatalf("%d repair packets for %d lost: each lost packet was asked for again and again", r, l)
	}
}

// noSSRCs takes the SSRC lines out of an offer, as Chromium sends
// simulcast: the streams are known by their RID, and RTX by its repaired
// RID (RFC 8852).
func noSSRCs(sdp string) string {
	return shaper.DropLines(sdp, func(l string) bool { return strings.HasPrefix(l, "a=ssrc") })
}
