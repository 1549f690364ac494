package ingest

import (
	"context"
	"errors"
	"testing"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/errs"
)

// The gate decides in one order for every protocol: name, credentials,
// cluster claim, local registry; each refusal is a sentinel the edges map.
func TestGateDecidesInOrder(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	var claimed []string
	static := func(_ context.Context, a Access) error {
		switch a.Token {
		case "s3cret":
			return nil
		case "":
			return errs.Errorf(ErrUnauthorized, "no token")
		}
		return errs.Errorf(ErrForbidden, "not that token")
	}
	g := NewGate(GateParams{Registry: reg, Authorize: static, Claim: func(_ context.Context, s string, _ int) (bool, error) {
		claimed = append(claimed, s)
		if s == "elsewhere" {
			return false, errs.Errorf(ErrClaimed, "stream %q is published on origin b", s)
		}
		return true, nil
	}})
	cases := []struct {
		name string
		a    Access
		want error
	}{
		{"bad name", Access{Protocol: "rtmp", Stream: "a b", Token: "s3cret"}, fanout.ErrBadName},
		{"no token", Access{Protocol: "rtmp", Stream: "cam"}, ErrUnauthorized},
		{"wrong token", Access{Protocol: "rtsp", Stream: "cam", Token: "guess"}, ErrForbidden},
		{"claimed elsewhere", Access{Protocol: "whip", Stream: "elsewhere", Token: "s3cret"}, ErrClaimed},
		{"admitted", Access{Protocol: "whip", Stream: "cam", Token: "s3cret"}, nil},
		{"published here already", Access{Protocol: "rtmp", Stream: "cam", Token: "s3cret"}, ErrBusy},
		{"bad priority", Access{Protocol: "whip", Stream: "cam", Token: "s3cret", Query: "priority=high"}, ErrBadPriority},
	}
	for _, c := range cases {
		pub, err := g.Admit(t.Context(), c.a)
		if c.want == nil {
			if err != nil || pub == nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Nothing refused before the claim reached the cluster, and a second
	// publisher of the same priority here is refused without asking it.
	if len(claimed) != 2 || claimed[0] != "elsewhere" {
		t.Fatalf("claims made: %v, want only for the two that passed name, token and the local check", claimed)
	}
}

func TestTrackIDs(t *testing.T) {
	ids := TrackIDs{}
	got := []string{ids.Next(fanout.KindVideo), ids.Next(fanout.KindAudio), ids.Next(fanout.KindVideo)}
	if got[0] != "video" || got[1] != "audio" || got[2] != "video1" {
		t.Fatalf("ids %v", got)
	}
}
