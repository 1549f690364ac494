package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// simulcastLayers are listed low to high, as Chromium's sendEncodings
// usually are: the first layer is not the best.
var simulcastLayers = []whipclient.Layer{{RID: "l", FrameSize: 120}, {RID: "m", FrameSize: 400}, {RID: "h", FrameSize: 1100}}

// A publisher sends three simulcast layers (keyframes only at the start
// and when asked). A viewer pinned to each layer (?layer=) gets that
// layer's frames, byte for byte, and nothing else; an automatic viewer
// starts on the layer its first bandwidth estimate (300 kbit/s) holds and
// climbs to the top layer as the estimate grows on an unconstrained link,
// each switch at a keyframe of the layer switched to: it never gets
// a delta frame of a layer it has no keyframe of, on one SSRC whose
// sequence numbers run on across switches. GET /api/streams shows the layers and the
// viewers on each; an unknown layer is refused with the ones there are.
func TestSimulcastLayersPinnedAndAutomatic(t *testing.T) {
	_, base := startNode(t)
	publishSimulcast(t, base, "sim", simulcastLayers, 30)

	watchers := map[string]*whipclient.Watcher{}
	for _, rid := range []string{"l", "m", "h", ""} {
		w, err := whipclient.Watch(t.Context(), base+"/whep/sim?layer="+rid, whipclient.Options{KeepPayloads: true})
		if err != nil {
			t.Fatalf("viewer of layer %q: %v", rid, err)
		}
		t.Cleanup(w.Close)
		watchers[rid] = w
	}
	auto := watchers[""]
	waitUntil(t, 15*time.Second, "the automatic viewer on the top layer", func() bool {
		v := auto.Video()
		if len(v) == 0 {
			return false
		}
		rid, _, _, _ := whipclient.ParseSimulcastFrame(v[len(v)-1].Payload)
		return rid == "h"
	})
	time.Sleep(time.Second) // more frames of every layer
	for rid, w := range watchers {
		v := w.Video()
		if len(v) < 30 {
			t.Fatalf("viewer %q got %d frames", rid, len(v))
		}
		var seen []string
		have := map[string]bool{} // layers with a keyframe so far
		for i, a := range v {
			got, _, key, ok := whipclient.ParseSimulcastFrame(a.Payload)
			if !ok {
				t.Fatalf("viewer %q: frame %d is not a frame the publisher sent, byte for byte", rid, i)
			}
			if rid != "" && got != rid {
				t.Fatalf("viewer pinned to %q got a frame of %q", rid, got)
			}
			have[got] = have[got] || key
			if !have[got] {
				t.Fatalf("viewer %q got a delta frame of %q before any keyframe of it (frame %d of %s)", rid, got, i, describeFrames(v[:min(len(v), 6)]))
			}
			if len(seen) == 0 || seen[len(seen)-1] != got {
				seen = append(seen, got)
			}
			if i > 0 && !continues(v[i-1], a, v[0].SSRC) {
				t.Fatalf("viewer %q: packet %d has SSRC %d seq %d after SSRC %d seq %d: not one continuous stream",
					rid, i, a.SSRC, a.Seq, v[0].SSRC, v[i-1].Seq)
			}
		}
		if rid == "" {
			// Its estimate climbs on an open link (a dip on a busy
			// machine may take it down a step on the way: each switch is
			// checked above to be at a keyframe).
			if seen[len(seen)-1] != "h" {
				t.Fatalf("the automatic viewer ended on %v; want h", seen)
			}
			t.Logf("the automatic viewer's layers: %v", seen)
		}
	}
	waitUntil(t, 10*time.Second, "the viewers per layer in /api/streams", func() bool {
		l := layersOf(t, base, "sim")
		return l["l"] == 1 && l["m"] == 1 && l["h"] == 2
	})
	_, err := whipclient.Watch(t.Context(), base+"/whep/sim?layer=x", whipclient.Options{})
	var se *whipclient.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest || !strings.Contains(se.Body, "its layers are l, m, h") {
		t.Fatalf("a viewer of an unknown layer: %v; want 400 naming the layers", err)
	}
}

// continues reports whether packet b follows a on one stream of SSRC
// ssrc: the next sequence number after any padding between them, or a
// few later (a packet lost on a busy machine), never a jump that a layer
// switch without renumbering makes.
func continues(a, b whipclient.Arrival, ssrc uint32) bool {
	d := int(b.Seq-a.Seq) - b.Padding
	return b.SSRC == ssrc && d >= 1 && d <= 10
}

func describeFrames(v []whipclient.Arrival) string {
	var out []string
	for _, a := range v {
		rid, i, key, _ := whipclient.ParseSimulcastFrame(a.Payload)
		k := ""
		if key {
			k = " key"
		}
		out = append(out, fmt.Sprintf("%s#%d%s seq %d", rid, i, k, a.Seq))
	}
	return strings.Join(out, ", ")
}

// publishSimulcast publishes layers at fps to stream on the node at base
// until the test ends, and waits until the node has every layer.
func publishSimulcast(t *testing.T, base, stream string, layers []whipclient.Layer, fps int) {
	t.Helper()
	pub, err := whipclient.PublishSimulcast(t.Context(), base+"/whip/"+stream, whipclient.Options{}, layers, fps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	waitUntil(t, 10*time.Second, "every video layer at the node", func() bool { return len(layersOf(t, base, stream)) == len(layers) })
}

// layersOf is GET /api/streams' video layers of stream and their
// subscribers.
func layersOf(t *testing.T, base, stream string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/streams", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Streams []StreamInfo }
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, s := range body.Streams {
		if s.Name != stream {
			continue
		}
		var order []string
		for _, tr := range s.Tracks {
			if tr.Layer != "" {
				out[tr.Layer] = tr.Subscribers
				order = append(order, tr.Layer)
			}
		}
		if len(order) > 0 && !slices.Equal(order, []string{"l", "m", "h"}) {
			t.Fatalf("layers %v, want l, m, h as the publisher listed them", order)
		}
	}
	return out
}

// A relay's link carries every layer, each in a section of its own, so
// the relay lists the origin's layers in the publisher's order, and an
// automatic viewer of the relay climbs to the top layer's frames, byte
// for byte, on one continuous stream.
func TestSimulcastThroughARelay(t *testing.T) {
	origin, base := startNode(t, "-nats-listen", "127.0.0.1:0")
	_, relayBase := startRelay(t, origin.NATSURL(), "-whep-redirect=false")
	publishSimulcast(t, base, "sim", simulcastLayers, 30)
	w, err := whipclient.Watch(t.Context(), relayBase+"/whep/sim", whipclient.Options{KeepPayloads: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	waitUntil(t, 10*time.Second, "every layer at the relay", func() bool { return len(layersOf(t, relayBase, "sim")) == len(simulcastLayers) })
	waitUntil(t, 30*time.Second, "the top layer at the relay's viewer", func() bool {
		v := w.Video()
		if len(v) < 30 {
			return false
		}
		rid, _, _, _ := whipclient.ParseSimulcastFrame(v[len(v)-1].Payload)
		return rid == "h"
	})
	v := w.Video()
	for i, a := range v {
		if _, _, _, ok := whipclient.ParseSimulcastFrame(a.Payload); !ok {
			t.Fatalf("frame %d at the relay's viewer is not one the publisher sent", i)
		}
		if i > 0 && !continues(v[i-1], a, v[0].SSRC) {
			t.Fatalf("packet %d: SSRC %d seq %d after seq %d: not one continuous stream (%s)", i, a.SSRC, a.Seq, v[i-1].Seq, describeFrames(v[max(0, i-3):i+1]))
		}
	}
}

// Chromium publishes simulcast from the page (three layers); Chromium
// watches automatically and pinned to the low layer: both decode, the
// pinned one a quarter-size picture, the automatic one climbing to a
// larger one as its bandwidth estimate grows.
func TestBrowserSimulcast(t *testing.T) {
	_, base := startNode(t)
	line := runNodeScript(t, "simulcast.mjs", base, "browser-simulcast")
	var res struct {
		OK        bool     `json:"ok"`
		Layers    []string `json:"layers"`
		Low, Auto struct {
			FramesDecoded, Width, Height int
		}
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil || !res.OK {
		t.Fatalf("browser result %q (%v)", line, err)
	}
	if res.Auto.Width < 2*res.Low.Width || res.Low.Width == 0 {
		t.Fatalf("the automatic viewer's picture is %dx%d, the low layer's %dx%d: want the automatic one at least twice as wide",
			res.Auto.Width, res.Auto.Height, res.Low.Width, res.Low.Height)
	}
}

// The WHEP layer extension: the 201 of an automatic simulcast viewer links
// its layer resource; POST {"encodingId": "l"} moves the playing viewer to
// the low layer (at its keyframe), a layer that is not there or a body
// that is not JSON is a 400, and DELETE lets it climb back to the top.
func TestSimulcastLayerExtension(t *testing.T) {
	_, base := startNode(t)
	publishSimulcast(t, base, "ext", simulcastLayers, 30)
	w, err := whipclient.Watch(t.Context(), base+"/whep/ext", whipclient.Options{KeepPayloads: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	layerURL := ""
	for _, l := range w.Session.Header.Values("Link") {
		if strings.Contains(l, `rel="urn:ietf:params:whep:ext:core:layer"`) {
			ref, err := url.Parse(strings.Trim(strings.SplitN(l, ";", 2)[0], "<> "))
			if err != nil {
				t.Fatal(err)
			}
			loc, _ := url.Parse(w.Session.Location)
			layerURL = loc.ResolveReference(ref).String() // a Link's URL is relative to the request's
		}
	}
	if layerURL != w.Session.Location+"/layer" {
		t.Fatalf("Link headers %q: want the layer extension at the session's URL + /layer", w.Session.Header.Values("Link"))
	}
	waitUntil(t, 15*time.Second, "the automatic viewer on the top layer", func() bool { return lastLayer(w) == "h" })
	send := func(method, body string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), method, layerURL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := send("POST", `{"mediaId": "0", "encodingId": "l"}`); code != http.StatusNoContent {
		t.Fatalf("POST encodingId l: %d", code)
	}
	pinned := time.Now()
	waitUntil(t, 10*time.Second, "the viewer on the low layer", func() bool { return lastLayer(w) == "l" })
	time.Sleep(time.Second)
	if got := only(w.Video(), pinned.Add(500*time.Millisecond)); got != "l" && got != "mixed" {
		t.Fatalf("after the pin the viewer gets %q", got)
	}
	if code, body := send("POST", `{"encodingId": "x"}`); code != http.StatusBadRequest || !strings.Contains(body, "its layers are l, m, h") {
		t.Fatalf("POST an unknown layer: %d %s", code, body)
	}
	if code, _ := send("POST", `layer please`); code != http.StatusBadRequest {
		t.Fatalf("POST a body that is not JSON: %d", code)
	}
	if code, _ := send("DELETE", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
	waitUntil(t, 20*time.Second, "the viewer back on the top layer", func() bool { return lastLayer(w) == "h" })
	v := w.Video()
	for i := 1; i < len(v); i++ {
		if !continues(v[i-1], v[i], v[0].SSRC) {
			t.Fatalf("packet %d: not one continuous stream across the layer changes", i)
		}
		prev, _, _, _ := whipclient.ParseSimulcastFrame(v[i-1].Payload)
		rid, _, key, _ := whipclient.ParseSimulcastFrame(v[i].Payload)
		if rid != prev && !key {
			t.Fatalf("packet %d: a switch from %s to %s on a delta frame", i, prev, rid)
		}
	}
}
