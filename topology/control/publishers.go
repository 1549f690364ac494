package control

import (
	"context"
	"encoding/json"
	"sort"
)

// Publisher is an origin's best publisher of a stream, live or a backup:
// what a backup origin reads to decide whether it takes the stream over
// when the live one goes, and what GET /api/streams shows.
type Publisher struct {
	Stream   string `json:"stream"`
	Origin   string `json:"origin"`
	HTTP     string `json:"http"`
	Priority int    `json:"priority"`
}

// pubPrefix keeps publisher records apart from stream names (which cannot
// hold a dot) in the one bucket.
const pubPrefix = "pub."

func pubKey(stream, origin string) string { return pubPrefix + stream + "." + origin }

// SetPublisher records that this origin has a publisher of stream at
// priority (its best). Refreshed with the claims, it expires with them
// when the origin dies.
func (d *Directory) SetPublisher(ctx context.Context, stream string, priority int) error {
	b, _ := json.Marshal(Publisher{Stream: stream, Origin: d.p.Origin, HTTP: d.p.HTTP, Priority: priority})
	return d.putKept(ctx, pubKey(stream, d.p.Origin), b)
}

// ClearPublisher removes this origin's publisher record of stream.
func (d *Directory) ClearPublisher(ctx context.Context, stream string) error {
	return d.deleteKept(ctx, pubKey(stream, d.p.Origin))
}

// Publishers returns every origin's publisher record of stream, the
// highest priority first (then by origin, so every node reads one order).
func (d *Directory) Publishers(ctx context.Context, stream string) ([]Publisher, error) {
	all, err := d.publishers(ctx, pubPrefix+stream+".")
	return all[stream], err
}

// AllPublishers is Publishers for every stream, by stream name.
func (d *Directory) AllPublishers(ctx context.Context) (map[string][]Publisher, error) {
	return d.publishers(ctx, pubPrefix)
}

func (d *Directory) publishers(ctx context.Context, prefix string) (map[string][]Publisher, error) {
	out := map[string][]Publisher{}
	err := d.kept(prefix, func(key string, v json.RawMessage) {
		var p Publisher
		if json.Unmarshal(v, &p) == nil && pubKey(p.Stream, p.Origin) == key {
			out[p.Stream] = append(out[p.Stream], p)
		}
	})
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool {
			if ps[i].Priority != ps[j].Priority {
				return ps[i].Priority > ps[j].Priority
			}
			return ps[i].Origin < ps[j].Origin
		})
	}
	return out, err
}
