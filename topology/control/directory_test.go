package control

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func openDir(t *testing.T, p *Plane, origin string, ttl time.Duration) *Directory {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := OpenDirectory(ctx, DirectoryParams{Conn: p.Conn, Origin: origin, HTTP: origin + ":8080", TTL: ttl, Peers: p.Peers})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// Two origins share one control plane: a name is theirs alone, it can be
// claimed again by its owner, listed from anywhere, and released.
func TestDirectoryClaimsAreExclusive(t *testing.T) {
	server, err := Open(Params{Name: "a", Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	other, err := Open(Params{Name: "b", URL: server.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	a, b := openDir(t, server, "a", 0), openDir(t, other, "b", 0)
	defer a.Close()
	defer b.Close()

	if err := a.Claim(ctx(t), "cam"); err != nil {
		t.Fatal(err)
	}
	if err := a.Claim(ctx(t), "cam"); err != nil {
		t.Fatalf("owner's second claim: %v", err)
	}
	err = b.Claim(ctx(t), "cam")
	if !errors.Is(err, ErrClaimed) || err.Error() != "stream is published on another origin: a" {
		t.Fatalf("b's claim of a's stream: %v", err)
	}
	e, ok, err := b.Lookup(ctx(t), "cam")
	if err != nil || !ok || e.Origin != "a" || e.HTTP != "a:8080" {
		t.Fatalf("lookup from b: %+v %v %v", e, ok, err)
	}
	if err := b.Release(ctx(t), "cam"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Lookup(ctx(t), "cam"); !ok {
		t.Fatal("b's release removed a's claim")
	}
	_ = b.Claim(ctx(t), "other")
	// Each node tells its own facts; the others hear them within a
	// message's time.
	eventually(t, "a to list b's claim", func() bool { l, _ := a.List(ctx(t)); return len(l) == 2 })
	list, err := a.List(ctx(t))
	if err != nil || len(list) != 2 || list[0].Stream != "cam" || list[1].Origin != "b" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := a.Release(ctx(t), "cam"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b to see cam released", func() bool { _, ok, _ := b.Lookup(ctx(t), "cam"); return !ok })
	if err := b.Claim(ctx(t), "cam"); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
}

// An origin that dies keeps its names only for the TTL; one that lives
// keeps them by refreshing.
func TestDirectoryClaimsExpireWithTheirOwner(t *testing.T) {
	p, err := Open(Params{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	alive, dead, late := openDir(t, p, "alive", time.Second), openDir(t, p, "dead", time.Second), openDir(t, p, "late", time.Second)
	defer alive.Close()
	defer late.Close()
	_ = alive.Claim(ctx(t), "kept")
	_ = dead.Claim(ctx(t), "freed")
	dead.Close() // no release, no refresh: as if the origin was killed

	deadline := time.Now().Add(10 * time.Second)
	for late.Claim(ctx(t), "freed") != nil {
		if time.Now().After(deadline) {
			t.Fatal("a dead origin's name was never freed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // past the TTL: only refreshing keeps "kept"
	if err := late.Claim(ctx(t), "kept"); !errors.Is(err, ErrClaimed) {
		t.Fatalf("a live origin's refreshed claim was lost: %v", err)
	}
}

func TestDirectoryEdges(t *testing.T) {
	p, err := Open(Params{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	origin, relay := openDir(t, p, "origin", time.Second), openDir(t, p, "r1", time.Second)
	defer origin.Close()
	defer relay.Close()
	_ = origin.Claim(ctx(t), "cam")
	if err := relay.SetEdge(ctx(t), "cam", "origin"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past the TTL: refreshing keeps it
	edges, err := origin.Edges(ctx(t))
	if err != nil || len(edges) != 1 || edges[0] != (Edge{Stream: "cam", Parent: "origin", Child: "r1"}) {
		t.Fatalf("edges %+v, %v", edges, err)
	}
	if list, _ := origin.List(ctx(t)); len(list) != 1 {
		t.Fatalf("edges leaked into the stream list: %+v", list)
	}
	if err := relay.ClearEdge(ctx(t), "cam"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the edge to go", func() bool { edges, _ := origin.Edges(ctx(t)); return len(edges) == 0 })
}

// A name whose origin gossip has seen die is taken over at once, not after
// the TTL: of two origins taking it over together one wins, and the other
// is told which; an origin gossip has not seen depart keeps its names.
func TestDepartedOriginsNamesAreTakenOverAtOnce(t *testing.T) {
	server, err := Open(Params{Name: "srv"})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	var died time.Time // set once dead has claimed: gossip saw it die after
	departed := func(origin string) (time.Time, bool) { return died, origin == "dead" && !died.IsZero() }
	open := func(origin string) *Directory {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := OpenDirectory(ctx, DirectoryParams{Conn: server.Conn, Origin: origin, HTTP: origin + ":8080", TTL: time.Minute, Departed: departed})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		return d
	}
	dead, alive, b, c := open("dead"), open("alive"), open("b"), open("c")
	for _, s := range []string{"cam", "other"} {
		if err := dead.Claim(ctx(t), s); err != nil {
			t.Fatal(err)
		}
	}
	if err := alive.Claim(ctx(t), "kept"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	died = time.Now()
	if err := b.Claim(ctx(t), "cam"); err != nil {
		t.Fatalf("taking over a departed origin's name: %v", err)
	}
	if err := c.Claim(ctx(t), "cam"); !errors.Is(err, ErrClaimed) || !strings.Contains(err.Error(), "b") {
		t.Fatalf("a second taker after b: %v, want claimed by b", err)
	}
	if e, ok, _ := c.Lookup(ctx(t), "cam"); !ok || e.Origin != "b" {
		t.Fatalf("cam now: %+v", e)
	}
	if err := c.Claim(ctx(t), "kept"); !errors.Is(err, ErrClaimed) {
		t.Fatalf("a live origin's name: %v, want claimed", err)
	}
}

// A claim written after gossip saw its origin depart is the restarted
// origin's: it is not taken over, however stale this node's gossip.
func TestARestartedOriginsClaimIsKept(t *testing.T) {
	server, err := Open(Params{Name: "srv"})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	died := time.Now()
	stale := func(origin string) (time.Time, bool) { return died, origin == "a" }
	a := openGossiping(t, server, "a", nil)
	b := openGossiping(t, server, "b", stale)
	time.Sleep(10 * time.Millisecond)
	if err := a.Claim(ctx(t), "cam"); err != nil {
		t.Fatal(err)
	}
	if err := b.Claim(ctx(t), "cam"); !errors.Is(err, ErrClaimed) {
		t.Fatalf("b took a restarted origin's name: %v", err)
	}
}

// Priorities: a lower one than the live publisher's is its backup (not
// live, no error), the same is refused, a higher one takes the name over.
func TestClaimAtPriority(t *testing.T) {
	server, err := Open(Params{Name: "srv"})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	a, b, c := openGossiping(t, server, "a", nil), openGossiping(t, server, "b", nil), openGossiping(t, server, "c", nil)
	if live, err := a.ClaimAt(ctx(t), "cam", 1); err != nil || !live {
		t.Fatalf("a at 1: %v %v", live, err)
	}
	if live, err := b.ClaimAt(ctx(t), "cam", 0); err != nil || live {
		t.Fatalf("b at 0 under a at 1: live %v, %v; want a backup", live, err)
	}
	if _, err := c.ClaimAt(ctx(t), "cam", 1); !errors.Is(err, ErrClaimed) {
		t.Fatalf("c at a's priority: %v, want claimed", err)
	}
	if live, err := c.ClaimAt(ctx(t), "cam", 2); err != nil || !live {
		t.Fatalf("c at 2 over a at 1: %v %v", live, err)
	}
	eventually(t, "a to see c's claim", func() bool { e, _, _ := a.Lookup(ctx(t), "cam"); return e.Origin == "c" && e.Priority == 2 })
	eventually(t, "a to withdraw its claim, which c's beats", func() bool { return !a.Owns("cam") })
	for _, d := range []*Directory{a, b, c} {
		if err := d.SetPublisher(ctx(t), "cam", map[string]int{"a": 1, "b": 0, "c": 2}[d.p.Origin]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "b to hear every publisher", func() bool { p, _ := b.Publishers(ctx(t), "cam"); return len(p) == 3 })
	pubs, err := b.Publishers(ctx(t), "cam")
	if err != nil || len(pubs) != 3 || pubs[0].Origin != "c" || pubs[1].Origin != "a" || pubs[2].Origin != "b" {
		t.Fatalf("publishers %+v, %v; want c, a, b", pubs, err)
	}
	if list, _ := a.List(ctx(t)); len(list) != 1 {
		t.Fatalf("publisher records leaked into the stream list: %+v", list)
	}
}

func openGossiping(t *testing.T, server *Plane, origin string, departed func(string) (time.Time, bool)) *Directory {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := OpenDirectory(c, DirectoryParams{Conn: server.Conn, Origin: origin, HTTP: origin + ":8080", TTL: time.Minute, Departed: departed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}
