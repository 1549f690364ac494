package upstream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/topology/control"
	"github.com/relaymesh/relaymesh/topology/membership"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeDirectory is a Directory of function fields; a nil field answers
// empty.
type fakeDirectory struct {
	lookup func(stream string) (control.Entry, bool, error)
	edges  func() ([]control.Edge, error)
}

func (f *fakeDirectory) Lookup(_ context.Context, stream string) (control.Entry, bool, error) {
	if f.lookup == nil {
		return control.Entry{}, false, nil
	}
	return f.lookup(stream)
}

func (f *fakeDirectory) Edges(context.Context) ([]control.Edge, error) {
	if f.edges == nil {
		return nil, nil
	}
	return f.edges()
}

func (f *fakeDirectory) SetEdge(context.Context, string, string) error { return nil }
func (f *fakeDirectory) ClearEdge(context.Context, string) error       { return nil }

// fakeMembers is a fixed membership.
type fakeMembers []membership.Meta

func (f fakeMembers) Members() []membership.Meta { return f }
func (f fakeMembers) Changed() <-chan struct{}   { return make(chan struct{}) }
func (f fakeMembers) Departed(string) bool       { return false }

func newTestRelay(t *testing.T, dir Directory, members Members, k int) *Relay {
	t.Helper()
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	t.Cleanup(reg.Close)
	r := NewRelay(RelayParams{Registry: reg, Directory: dir, Members: members, NodeID: "r1", Zone: "eu", MaxChildren: k,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(r.Close)
	return r
}

// Parent choice reads the stream's tree from the directory and the live
// members from gossip; what it cannot do is said with a sentinel the HTTP
// edge maps (404, 503).
func TestChooseParent(t *testing.T) {
	published := func(string) (control.Entry, bool, error) {
		return control.Entry{Stream: "s", Origin: "o", HTTP: "10.0.0.1:8080"}, true, nil
	}
	members := fakeMembers{{ID: "o", HTTP: "10.0.0.1:8080"}, {ID: "r1", Zone: "eu"}, {ID: "r2", Zone: "eu", HTTP: "10.0.0.2:8080"}}
	cases := []struct {
		name   string
		dir    *fakeDirectory
		k      int
		gone   string
		parent string
		url    string
		err    error
	}{
		{"not published", &fakeDirectory{}, 2, "", "", "", ErrNotPublished},
		{"directory down", &fakeDirectory{lookup: func(string) (control.Entry, bool, error) { return control.Entry{}, false, errors.New("nats: timeout") }}, 2, "", "", "", ErrDirectory},
		{"origin has room", &fakeDirectory{lookup: published}, 2, "", "o", "http://10.0.0.1:8080/whep/s", nil},
		{"origin full: under r2", &fakeDirectory{lookup: published, edges: func() ([]control.Edge, error) {
			return []control.Edge{{Stream: "s", Parent: "o", Child: "r2"}}, nil
		}}, 1, "", "r2", "http://10.0.0.2:8080/whep/s", nil},
		{"an edge of a dead child holds no slot", &fakeDirectory{lookup: published, edges: func() ([]control.Edge, error) {
			return []control.Edge{{Stream: "s", Parent: "o", Child: "dead"}}, nil
		}}, 1, "", "o", "http://10.0.0.1:8080/whep/s", nil},
		{"every parent full or draining", &fakeDirectory{lookup: published, edges: func() ([]control.Edge, error) {
			return []control.Edge{{Stream: "s", Parent: "o", Child: "r2"}}, nil
		}}, 1, "", "", "", ErrNoParent},
	}
	for _, c := range cases {
		m := members
		if c.err == ErrNoParent {
			m = fakeMembers{{ID: "o"}, {ID: "r1"}, {ID: "r2", Draining: true}}
		}
		r := newTestRelay(t, c.dir, m, c.k)
		id, url, _, err := r.chooseParent(t.Context(), "s", c.gone)
		switch {
		case c.err != nil:
			if !errors.Is(err, c.err) {
				t.Errorf("%s: err %v, want %v", c.name, err, c.err)
			}
		case err != nil || id != c.parent || url != c.url:
			t.Errorf("%s: %q %q %v, want %q %q", c.name, id, url, err, c.parent, c.url)
		}
	}
}

// A viewer of a stream nobody publishes gets ErrNotPublished from Ensure
// (a 404 at the edge), and nothing is left running.
func TestEnsureUnpublishedStream(t *testing.T) {
	r := newTestRelay(t, &fakeDirectory{}, fakeMembers{{ID: "r1"}}, 2)
	if err := r.Ensure(t.Context(), "nobody"); !errors.Is(err, ErrNotPublished) {
		t.Fatalf("Ensure: %v, want ErrNotPublished", err)
	}
	r.Close()
	if err := r.Ensure(t.Context(), "s"); !errors.Is(err, ErrClosing) {
		t.Fatalf("Ensure after Close: %v, want ErrClosing", err)
	}
}

// CheckChild refuses a child that would feed itself or one of its own
// ancestors.
func TestCheckChildRefusesLoops(t *testing.T) {
	dir := &fakeDirectory{
		lookup: func(string) (control.Entry, bool, error) { return control.Entry{Origin: "o", HTTP: "x"}, true, nil },
		edges: func() ([]control.Edge, error) {
			return []control.Edge{{Stream: "s", Parent: "o", Child: "r0"}, {Stream: "s", Parent: "r0", Child: "r1"}}, nil
		},
	}
	r := newTestRelay(t, dir, fakeMembers{{ID: "o"}, {ID: "r0"}, {ID: "r1"}, {ID: "r2"}}, 2)
	for child, loop := range map[string]bool{"r1": true, "r0": true, "o": true, "r2": false} {
		if err := r.CheckChild(t.Context(), "s", child); errors.Is(err, ErrLoop) != loop {
			t.Errorf("CheckChild(%s) = %v, loop %v", child, err, loop)
		}
	}
}

// A parent admits at most k relay children per stream; a child already fed
// (re-linking) and plain viewers always pass; a draining child holds no
// slot; release frees one.
func TestChildrenAdmission(t *testing.T) {
	members := fakeMembers{{ID: "a"}, {ID: "b"}, {ID: "c", Draining: true}, {ID: "d"}}
	c := NewChildren(2, members, nil)
	admit := func(child string) (func(), error) {
		r := httptest.NewRequest("POST", "/whep/s", nil)
		if child != "" {
			r.Header.Set(NodeHeader, child)
		}
		return c.Admit(t.Context(), r, "s")
	}
	relA, err := admit("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admit("c"); err != nil {
		t.Fatal(err)
	}
	if _, err := admit("b"); err != nil {
		t.Fatalf("b refused although c is draining: %v", err)
	}
	if _, err := admit("d"); !errors.Is(err, ErrChildrenFull) {
		t.Fatalf("a third staying child: %v, want ErrChildrenFull", err)
	}
	if _, err := admit("a"); err != nil {
		t.Fatalf("a re-linking child was refused: %v", err)
	}
	if _, err := admit(""); err != nil {
		t.Fatalf("a viewer was refused: %v", err)
	}
	if got := c.Count("s"); got != 3 {
		t.Fatalf("Count = %d, want 3 (a, b, c)", got)
	}
	relA()
	relA() // idempotent
	if _, err := admit("d"); !errors.Is(err, ErrChildrenFull) {
		t.Fatalf("a's second session still holds its slot, so d: %v", err)
	}
	if got := c.Sessions(); got != 3 {
		t.Fatalf("Sessions = %d, want 3", got)
	}
}

// Rebalancing waits for churn to stop: members coming, going or draining,
// not the load and viewer counts they gossip all the time.
func TestChurnIsMembershipNotLoad(t *testing.T) {
	a := []membership.Meta{{ID: "o"}, {ID: "r1", Load: 0.1, Viewers: 3}}
	busy := []membership.Meta{{ID: "o"}, {ID: "r1", Load: 0.7, Viewers: 40}}
	if churnOf(a) != churnOf(busy) {
		t.Fatal("a load change counted as churn")
	}
	for _, other := range [][]membership.Meta{
		{{ID: "o"}},
		{{ID: "o"}, {ID: "r1"}, {ID: "r2"}},
		{{ID: "o"}, {ID: "r1", Draining: true}},
	} {
		if churnOf(a) == churnOf(other) {
			t.Fatalf("%v and %v count as the same membership", a, other)
		}
	}
}
