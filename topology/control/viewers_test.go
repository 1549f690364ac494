package control

import (
	"maps"
	"testing"
	"time"
)

// Every node learns every node's viewers of every stream; a count of 0
// removes the fact, and a node that stops speaking takes its viewers with
// it after the TTL.
func TestViewerCountsAreKnownEverywhere(t *testing.T) {
	p, err := Open(Params{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a, b := openDir(t, p, "a", time.Second), openDir(t, p, "r.1", time.Second)
	defer a.Close()
	defer b.Close() // idempotent: the test closes it early
	for node, d := range map[string]*Directory{"a": a, "r.1": b} {
		if err := d.SetViewers(ctx(t), "cam", len(node)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetViewers(ctx(t), "other", 7); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{"cam": {"a": 1, "r.1": 3}, "other": {"r.1": 7}}
	eventually(t, "a to hear every count", func() bool {
		v, _ := a.Viewers(ctx(t))
		return maps.EqualFunc(v, want, maps.Equal)
	})
	if err := b.SetViewers(ctx(t), "other", 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a to hear that other has no viewers", func() bool {
		v, _ := a.Viewers(ctx(t))
		return v["other"] == nil && v["cam"]["r.1"] == 3
	})
	b.Close() // stops speaking; its facts expire at a after the TTL
	eventually(t, "r.1's viewers to expire with it", func() bool {
		v, _ := a.Viewers(ctx(t))
		return maps.Equal(v["cam"], map[string]int{"a": 1})
	})
}
