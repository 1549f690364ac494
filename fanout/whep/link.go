package whep

import (
	"cmp"
	"slices"

	"github.com/pion/sdp/v3"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/rtc"
)

// A child relay's link carries every layer of a simulcast source, each as
// a track of its own in a section of its own, named GROUP@RID as at the
// origin: the child then serves its viewers exactly as the origin does,
// and a viewer deep in the tree steps down at the next keyframe of a layer
// that is already flowing to its node, with no request travelling up the
// tree first. The cost is the lower layers' bytes on every link (about a
// third more than the top layer alone with Chromium's 4:2:1 ladder), paid
// whether or not a viewer below uses them; README.md gives the figures.
//
// A link asks for this by offering more than one video section (a link
// offers fanout.MaxLinkLayers); a link that offers one, as relays did
// before layers were carried, gets the top layer in it.

// linkLayers is the layers of g a link whose offer has sections sections
// of g's kind takes as tracks of their own, nil when it takes one picture.
// With fewer sections than layers it takes the top ones by bitrate, in the
// publisher's order.
func linkLayers(g fanout.Group, sections int) []*fanout.Track {
	if !g.Simulcast() || sections < 2 {
		return nil
	}
	if sections >= len(g.Layers) {
		return g.Layers
	}
	byRate := slices.Clone(g.Layers)
	slices.SortStableFunc(byRate, func(a, b *fanout.Track) int { return cmp.Compare(b.Bitrate(), a.Bitrate()) })
	keep := byRate[:sections]
	var out []*fanout.Track
	for _, t := range g.Layers {
		if slices.Contains(keep, t) {
			out = append(out, t)
		}
	}
	return out
}

// receiving counts the offer's sections of kind that receive.
func receiving(offer *sdp.SessionDescription, kind string) int {
	n := 0
	for _, m := range offer.MediaDescriptions {
		if m.MediaName.Media != kind {
			continue
		}
		if d := rtc.Direction(m); d == "recvonly" || d == "sendrecv" {
			n++
		}
	}
	return n
}
