package membership

import (
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func node(t *testing.T, id, zone string, join ...string) (*Cluster, <-chan struct{}) {
	t.Helper()
	c, err := Join(Params{
		Meta: Meta{ID: id, Role: "relay", Zone: zone, HTTP: "127.0.0.1:80" + id[len(id)-1:]},
		Bind: "127.0.0.1:0", Join: join,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c, c.Changed()
}

func ids(ms []Meta) string {
	s := ""
	for _, m := range ms {
		s += m.ID + " "
	}
	return s
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func TestJoinSeeMetaUpdateAndLeave(t *testing.T) {
	a, _ := node(t, "n1", "eu")
	b, changes := node(t, "n2", "us", a.Addr())
	c, _ := node(t, "n3", "eu", a.Addr())
	for _, n := range []*Cluster{a, b, c} {
		waitFor(t, 5*time.Second, "three members everywhere", func() bool { return ids(n.Members()) == "n1 n2 n3 " })
	}
	if m := b.Members()[2]; m.Zone != "eu" || m.Role != "relay" || m.HTTP != "127.0.0.1:803" {
		t.Fatalf("n3 as n2 sees it: %+v", m)
	}
	select {
	case <-changes:
	default:
		t.Fatal("Changed was never closed although n1 and n3 joined")
	}

	if err := c.Update(func(m *Meta) { m.Load, m.Draining = 0.75, true }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n3's new load at n1", func() bool {
		m := a.Members()[2]
		return m.Load == 0.75 && m.Draining
	})

	if err := c.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 5*time.Second, "n3 gone after Leave", func() bool { return ids(a.Members()) == "n1 n2 " })
	t.Logf("graceful leave seen in %v", took)
}

// A node that dies without a goodbye is noticed quickly: the LAN tuning
// that lets children re-parent within the mesh's 2 s budget.
func TestHardFailureIsDetectedQuickly(t *testing.T) {
	a, _ := node(t, "n1", "eu")
	b, _ := node(t, "n2", "eu", a.Addr())
	c, _ := node(t, "n3", "eu", a.Addr())
	waitFor(t, 5*time.Second, "three members", func() bool { return len(a.Members()) == 3 && len(b.Members()) == 3 })
	if a.Departed("n3") || a.Departed("never-seen") {
		t.Fatal("departed before anything left")
	}
	_ = c.Shutdown() // no Leave: as kill -9 looks from outside
	took := waitFor(t, 10*time.Second, "n3 declared dead", func() bool {
		return ids(a.Members()) == "n1 n2 " && ids(b.Members()) == "n1 n2 "
	})
	t.Logf("hard failure detected by every node in %v", took)
	// Its names are free now (the directory takes them over); a node never
	// seen is only unknown.
	if !a.Departed("n3") || !b.Departed("n3") || a.Departed("never-seen") {
		t.Fatalf("departed: n3 %v/%v, never-seen %v", a.Departed("n3"), b.Departed("n3"), a.Departed("never-seen"))
	}
}

func TestBadParams(t *testing.T) {
	if _, err := Join(Params{Bind: "127.0.0.1:0"}); err == nil {
		t.Fatal("a node without an id was accepted")
	}
	if _, err := Join(Params{Meta: Meta{ID: "x"}, Bind: "nope"}); err == nil {
		t.Fatal("a bad bind address was accepted")
	}
	big := make([]byte, 600)
	for i := range big {
		big[i] = 'z'
	}
	if _, err := Join(Params{Meta: Meta{ID: "x", Zone: string(big)}, Bind: "127.0.0.1:0"}); err == nil {
		t.Fatal("metadata over 512 bytes was accepted")
	}
}

// A seed that is not up yet (a pod starting before the others are listed)
// does not stop the node: it keeps trying and joins once the seed is up.
func TestJoinRetriesUntilASeedAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seedAddr := l.Addr().String()
	l.Close()
	late, _ := node(t, "late", "z", seedAddr)
	_, port, _ := net.SplitHostPort(seedAddr)
	seed, err := Join(Params{Meta: Meta{ID: "seed"}, Bind: "127.0.0.1:" + port})
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for len(late.Members()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the node never joined the seed that came up late")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func keyed(t *testing.T, id string, keys [][]byte, join ...string) (*Cluster, error) {
	t.Helper()
	c, err := Join(Params{Meta: Meta{ID: id, Role: "relay", HTTP: "127.0.0.1:8080"}, Bind: "127.0.0.1:0", Join: join, Keys: keys})
	if err == nil {
		t.Cleanup(func() { _ = c.Shutdown() })
	}
	return c, err
}

// With -gossip-key the cluster is closed: a node without the key (or with
// another) is never listed; a node holding the old key first and the new
// one second (the first step of a rotation) joins.
func TestGossipKeyClosesTheCluster(t *testing.T) {
	k1, k2 := []byte("0123456789abcdef"), []byte("fedcba9876543210")
	a, err := keyed(t, "k1", [][]byte{k1})
	if err != nil {
		t.Fatal(err)
	}
	rotating, err := keyed(t, "rotating", [][]byte{k1, k2}, a.Addr())
	if err != nil {
		t.Fatalf("a node with the old key first and the new second: %v", err)
	}
	// Join retries a seed that does not answer, so these start; they must
	// never be listed.
	for id, keys := range map[string][][]byte{"stranger": nil, "impostor": {k2}} {
		if _, err := keyed(t, id, keys, a.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the rotating node at k1", func() bool { return ids(a.Members()) == "k1 rotating " })
	time.Sleep(time.Second) // gossip rounds in which a stranger would show up
	if got := ids(a.Members()); got != "k1 rotating " || ids(rotating.Members()) != "k1 rotating " {
		t.Fatalf("members %q and %q, want only the two keyed nodes", got, ids(rotating.Members()))
	}
	if _, err := keyed(t, "short", [][]byte{[]byte("short")}); err == nil {
		t.Error("a 5-byte key was taken")
	}
}
