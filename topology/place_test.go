package topology

import (
	"errors"
	"testing"
)

func TestChooseServer(t *testing.T) {
	origin := Server{ID: "o", Zone: "eu", Warm: true, MaxViewers: 100}
	cases := []struct {
		name    string
		servers []Server
		zone    string
		want    string
		err     error
	}{
		{"a warm relay before a cold one, even a fuller one",
			[]Server{origin, {ID: "r1", Zone: "eu", Relay: true, Viewers: 8, MaxViewers: 10, Warm: true}, {ID: "r2", Zone: "eu", Relay: true, MaxViewers: 10}}, "", "r1", nil},
		{"a cold relay once the warm ones are full",
			[]Server{origin, {ID: "r1", Zone: "eu", Relay: true, Viewers: 10, MaxViewers: 10, Warm: true}, {ID: "r2", Zone: "eu", Relay: true, MaxViewers: 10}}, "", "r2", nil},
		{"a relay before the origin",
			[]Server{origin, {ID: "r1", Zone: "eu", Relay: true, MaxViewers: 10}}, "", "r1", nil},
		{"the origin when every relay is full or draining",
			[]Server{origin, {ID: "r1", Relay: true, Viewers: 10, MaxViewers: 10, Warm: true}, {ID: "r2", Relay: true, Draining: true}}, "", "o", nil},
		{"never a draining relay",
			[]Server{{ID: "r1", Relay: true, Draining: true, Warm: true}, {ID: "r2", Relay: true}}, "", "r2", nil},
		{"the viewer's zone first, cold or not",
			[]Server{origin, {ID: "r1", Zone: "eu", Relay: true, Warm: true}, {ID: "r2", Zone: "us", Relay: true}}, "us", "r2", nil},
		{"another zone when the viewer's has no room",
			[]Server{{ID: "r1", Zone: "eu", Relay: true, Warm: true}, {ID: "r2", Zone: "us", Relay: true, Viewers: 5, MaxViewers: 5}}, "us", "r1", nil},
		{"an unknown zone: no preference",
			[]Server{{ID: "r1", Zone: "eu", Relay: true, Warm: true, Viewers: 3}, {ID: "r2", Zone: "us", Relay: true, Warm: true, Viewers: 1}}, "", "r2", nil},
		{"the least full among warm relays",
			[]Server{{ID: "r1", Relay: true, Warm: true, Viewers: 6, MaxViewers: 10}, {ID: "r2", Relay: true, Warm: true, Viewers: 10, MaxViewers: 20}}, "", "r2", nil},
		{"the fewest viewers, then the id, with no capacities",
			[]Server{{ID: "r2", Relay: true, Warm: true, Viewers: 1}, {ID: "r1", Relay: true, Warm: true, Viewers: 1}, {ID: "r3", Relay: true, Warm: true, Viewers: 2}}, "", "r1", nil},
		{"no room anywhere",
			[]Server{{ID: "o", Viewers: 3, MaxViewers: 3}, {ID: "r1", Relay: true, Draining: true}}, "", "", ErrNoRoom},
		{"nobody", nil, "", "", ErrNoRoom},
	}
	for _, c := range cases {
		got, err := ChooseServer(c.servers, c.zone)
		if !errors.Is(err, c.err) || got.ID != c.want {
			t.Errorf("%s: got %q, %v; want %q, %v", c.name, got.ID, err, c.want, c.err)
		}
	}
}

// ChooseServer does not depend on the order it is given the nodes in:
// every node of the cluster, each listing its members its own way,
// redirects a viewer to the same place.
func TestChooseServerIsOrderFree(t *testing.T) {
	servers := []Server{{ID: "r1", Relay: true, Viewers: 2}, {ID: "r2", Relay: true, Viewers: 2}, {ID: "r3", Relay: true, Viewers: 2, Warm: true}, {ID: "o", Warm: true}}
	for i := range servers {
		rotated := append(append([]Server{}, servers[i:]...), servers[:i]...)
		if got, _ := ChooseServer(rotated, ""); got.ID != "r3" {
			t.Fatalf("rotation %d chose %s, want r3", i, got.ID)
		}
	}
}
