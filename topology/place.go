package topology

import (
	"errors"
	"sort"
)

// Server is what viewer placement knows of a node (from membership, the
// directory and the redirects this node has just made).
type Server struct {
	ID       string
	Zone     string
	Relay    bool // origins serve viewers only when no relay can
	Draining bool
	// Viewers is how many viewers the node serves; MaxViewers its
	// capacity (-max-viewers), 0 for none.
	Viewers, MaxViewers int
	// Warm: the node already carries the stream (its first frame is at
	// once; a cold relay first joins the stream's tree).
	Warm bool
}

// ErrNoRoom is returned when no node can take another viewer.
var ErrNoRoom = errors.New("no node of the cluster has room for another viewer")

// room reports whether s can take another viewer.
func (s Server) room() bool { return !s.Draining && (s.MaxViewers <= 0 || s.Viewers < s.MaxViewers) }

// fill is how full s is, 0 to 1 (0 when it has no capacity set: then by
// viewers alone).
func (s Server) fill() float64 {
	if s.MaxViewers <= 0 {
		return 0
	}
	return float64(s.Viewers) / float64(s.MaxViewers)
}

// ChooseServer picks the node a viewer of one stream, in zone (or "" if
// unknown), is best served by: of those not draining and under their
// capacity, in the viewer's zone if any is; a relay rather than an origin
// (origins keep their capacity for the tree); one that already carries the
// stream rather than one that must join its tree; then the least full,
// the fewest viewers, and the id, so that every node chooses alike.
// It is a pure function of its arguments.
func ChooseServer(servers []Server, zone string) (Server, error) {
	var open []Server
	inZone := false
	for _, s := range servers {
		if s.room() {
			open = append(open, s)
			inZone = inZone || (zone != "" && s.Zone == zone)
		}
	}
	if len(open) == 0 {
		return Server{}, ErrNoRoom
	}
	rank := func(s Server) [3]bool {
		return [3]bool{inZone && s.Zone != zone, !s.Relay, !s.Warm}
	}
	sort.SliceStable(open, func(i, j int) bool {
		a, b := open[i], open[j]
		ra, rb := rank(a), rank(b)
		for k := range ra {
			if ra[k] != rb[k] {
				return !ra[k]
			}
		}
		if a.fill() != b.fill() {
			return a.fill() < b.fill()
		}
		if a.Viewers != b.Viewers {
			return a.Viewers < b.Viewers
		}
		return a.ID < b.ID
	})
	return open[0], nil
}
