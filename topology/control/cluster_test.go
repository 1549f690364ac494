package control

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// Origins clustering their embedded servers start one by one, as a
// process manager or a StatefulSet starts them: the first starts alone at
// once (its directory opens in the background, not ready), and once a
// quorum runs its directory opens, with three copies. Before, a lone
// clustered server never became ready, and closing it hung.
func TestClusteredOriginsStartOneByOne(t *testing.T) {
	var routes []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, l.Addr().String())
		l.Close()
	}
	open := func(i int) (*Plane, *Directory) {
		started := time.Now()
		p, err := Open(Params{Name: fmt.Sprintf("o%d", i), Cluster: routes[i], Routes: routes})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		d, err := OpenDirectory(c, DirectoryParams{Conn: p.Conn, Origin: fmt.Sprintf("o%d", i), HTTP: "x:1", Replicas: Replicas(len(routes)), Patient: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		if took := time.Since(started); took > 5*time.Second {
			t.Fatalf("o%d took %v to start", i, took)
		}
		return p, d
	}
	_, first := open(0)
	if first.Ready() {
		t.Fatal("a lone clustered origin's directory is ready: it has no quorum")
	}
	if err := first.Claim(ctx(t), "cam"); err == nil {
		t.Fatal("a claim succeeded without a quorum")
	}
	open(1)
	open(2)
	for end := time.Now().Add(20 * time.Second); !first.Ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the first origin's directory never opened once the others ran")
		}
	}
	if err := first.Claim(ctx(t), "cam"); err != nil {
		t.Fatalf("a claim once the cluster has formed: %v", err)
	}
}
