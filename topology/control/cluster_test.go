package control

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("never: %s", what)
		}
	}
}

// Two origins cluster their embedded servers, started one by one with no
// route list: the first is ready alone at once, the second is pointed at
// the first as gossip finds it (SetRoutes), and a relay knows only the
// first's NATS. Either origin can then die and the other keeps the whole
// control plane: its names, new claims, and the relay, which reconnects
// to it. Before, the directory was a JetStream bucket, which two servers
// cannot keep when either dies (a quorum of two is both), and a lone
// clustered origin never became ready.
func TestTwoClusteredOriginsSurviveEitherOne(t *testing.T) {
	for _, dies := range []string{"first", "second"} {
		t.Run("the "+dies+" dies", func(t *testing.T) {
			ca, cb := freeAddr(t), freeAddr(t)
			a, err := Open(Params{Name: "a", Listen: "127.0.0.1:0", Cluster: ca})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			da := openDir(t, a, "a", time.Minute)
			defer da.Close()
			if !da.Ready() {
				t.Fatal("a lone clustered origin's directory is not ready")
			}
			if err := da.Claim(ctx(t), "cam"); err != nil {
				t.Fatalf("a lone clustered origin's claim: %v", err)
			}
			b, err := Open(Params{Name: "b", Listen: "127.0.0.1:0", Cluster: cb})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			// b's directory opens before its server has a route, as a
			// node's does before it has joined gossip: once the servers
			// connect, the two hear each other's facts at once (not at the
			// next announcement, a third of the TTL, 20 s here).
			db := openDir(t, b, "b", time.Minute)
			defer db.Close()
			if err := b.SetRoutes([]string{ca, cb}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "b to see a's claim", func() bool { e, ok, _ := db.Lookup(ctx(t), "cam"); return ok && e.Origin == "a" })
			if err := db.Claim(ctx(t), "cam"); !errors.Is(err, ErrClaimed) {
				t.Fatalf("b's claim of a's name: %v", err)
			}
			if err := db.Claim(ctx(t), "cam2"); err != nil {
				t.Fatal(err)
			}
			relay, err := Open(Params{Name: "r", URL: a.ClientURL()})
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			dr := openDir(t, relay, "r", time.Minute)
			defer dr.Close()
			if err := dr.SetEdge(ctx(t), "cam2", "b"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the relay's edge at b", func() bool { e, _ := db.Edges(ctx(t)); return len(e) == 1 })

			survivor, ds, lost := b, db, "cam"
			dead, dd := a, da
			if dies == "second" {
				survivor, ds, lost = a, da, "cam2"
				dead, dd = b, db
			}
			dd.Close()
			dead.Close()
			if _, ok, err := ds.Lookup(ctx(t), lost); err != nil || !ok {
				t.Fatalf("the survivor forgot the dead origin's name at once: %v %v (it lasts its TTL)", ok, err)
			}
			if err := ds.Claim(ctx(t), "fresh"); err != nil {
				t.Fatalf("a claim on the survivor: %v", err)
			}
			eventually(t, "the relay to reach the survivor and see the new name", func() bool {
				e, ok, _ := dr.Lookup(ctx(t), "fresh")
				return ok && e.Origin == survivor.opts.ServerName
			})
			if e, _ := ds.Edges(ctx(t)); len(e) != 1 || e[0].Child != "r" {
				t.Fatalf("edges at the survivor: %+v", e)
			}
		})
	}
}

// Two origins claiming one name at the same moment: one wins at both,
// and the other is refused, whichever message arrives first.
func TestSimultaneousClaimsHaveOneWinner(t *testing.T) {
	p, err := Open(Params{Name: "srv"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for round := range 20 {
		a, b := openDir(t, p, "a", time.Minute), openDir(t, p, "b", time.Minute)
		errs := make(chan error, 2)
		for _, d := range []*Directory{a, b} {
			go func() {
				c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				errs <- d.Claim(c, "race")
			}()
		}
		e1, e2 := <-errs, <-errs
		if (e1 == nil) == (e2 == nil) {
			t.Fatalf("round %d: claims %v and %v: want exactly one to win", round, e1, e2)
		}
		wa, _, _ := a.Lookup(ctx(t), "race")
		wb, _, _ := b.Lookup(ctx(t), "race")
		if wa.Origin != wb.Origin || a.Owns("race") == b.Owns("race") {
			t.Fatalf("round %d: a sees %s, b sees %s", round, wa.Origin, wb.Origin)
		}
		a.Close()
		b.Close()
	}
}
