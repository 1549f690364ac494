package control

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
)

// viewPrefix keeps viewer counts apart from stream names (which cannot
// hold a dot) among the facts: "view.<stream>.<node>".
const viewPrefix = "view."

func viewKey(stream, node string) string { return viewPrefix + stream + "." + node }

// SetViewers says how many WHEP viewers this node serves of stream; 0
// removes the fact. Facts expire with the node when it dies, so a dead
// node's viewers leave the cluster's count by themselves.
func (d *Directory) SetViewers(ctx context.Context, stream string, n int) error {
	if n <= 0 {
		return d.deleteKept(ctx, viewKey(stream, d.p.Origin))
	}
	return d.putKept(ctx, viewKey(stream, d.p.Origin), json.RawMessage(strconv.Itoa(n)))
}

// Viewers is every node's viewer count of every stream: stream → node →
// viewers.
func (d *Directory) Viewers(ctx context.Context) (map[string]map[string]int, error) {
	out := map[string]map[string]int{}
	err := d.kept(viewPrefix, func(key string, v json.RawMessage) {
		rest := strings.TrimPrefix(key, viewPrefix)
		stream, node, ok := strings.Cut(rest, ".") // node ids may hold dots; names cannot
		var n int
		if !ok || json.Unmarshal(v, &n) != nil || n <= 0 {
			return
		}
		if out[stream] == nil {
			out[stream] = map[string]int{}
		}
		out[stream][node] = n
	})
	return out, err
}
