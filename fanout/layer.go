package fanout

import "strings"

// Simulcast (RFC 8853): a publisher sends one source as several encodings,
// each with its own RID (RFC 8851) and SSRC. Each encoding is a track of
// its own, the source's layer, named GROUP@RID ("video@h"), so that a
// relay, which sees track ids in the SDP of its link, knows the layers of
// a group as the origin does. A track with no RID is a group of one.

// MaxLinkLayers is how many layers of a simulcast source a relay's link
// carries, a video section each (fanout/whep/link.go): Chromium sends at
// most three, OBS four.
const MaxLinkLayers = 4

// layerSep separates a layer's group from its RID; RIDs and the ids the
// ingest gives tracks cannot hold it.
const layerSep = "@"

// LayerID is the id of group's layer rid.
func LayerID(group, rid string) string { return group + layerSep + rid }

// SplitLayer is the group and RID of a track id ("" for a track with no
// layers).
func SplitLayer(id string) (group, rid string) {
	group, rid, _ = strings.Cut(id, layerSep)
	return group, rid
}

// Layer is the track's RID, "" when its group has one track.
func (t *Track) Layer() string {
	_, rid := SplitLayer(t.id)
	return rid
}

// Group is one source of a stream: its layers, in the order the
// publisher listed them, or one track.
type Group struct {
	ID     string
	Kind   Kind
	Layers []*Track
}

// Groups arranges tracks by source, in the order of each group's first
// track.
func Groups(tracks []*Track) []Group {
	var out []Group
	at := map[string]int{}
	for _, t := range tracks {
		g, _ := SplitLayer(t.id)
		i, ok := at[g]
		if !ok {
			i = len(out)
			at[g] = i
			out = append(out, Group{ID: g, Kind: t.kind})
		}
		out[i].Layers = append(out[i].Layers, t)
	}
	return out
}

// Simulcast reports whether the group has several layers.
func (g Group) Simulcast() bool { return len(g.Layers) > 1 }

// Layer is the layer with RID rid, nil if there is none.
func (g Group) Layer(rid string) *Track {
	for _, t := range g.Layers {
		if t.Layer() == rid {
			return t
		}
	}
	return nil
}

// Top is the layer with the highest bitrate over the last second: the
// best picture the publisher sends. Before any is measured, the first.
func (g Group) Top() *Track {
	top := g.Layers[0]
	for _, t := range g.Layers[1:] {
		if t.Bitrate() > top.Bitrate() {
			top = t
		}
	}
	return top
}

// TopLayers is one track per source: the top layer of each simulcast
// group, for readers that take one picture (the recorder, RTSP readers).
// measured is false while a simulcast group has no layer's bitrate yet
// (its first second), when the top cannot be told.
func TopLayers(tracks []*Track) (top []*Track, measured bool) {
	measured = true
	for _, g := range Groups(tracks) {
		t := g.Top()
		if g.Simulcast() && t.Bitrate() == 0 {
			measured = false
		}
		top = append(top, t)
	}
	return top, measured
}
