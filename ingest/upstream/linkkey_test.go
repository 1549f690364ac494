package upstream

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A member's signed request for a stream passes; one for another stream,
// a stale one, a stranger's, one signed with another key, or a garbled
// header does not.
func TestLinkKeys(t *testing.T) {
	keys := NewLinkKeys([][]byte{[]byte("0123456789abcdef")})
	other := NewLinkKeys([][]byte{[]byte("fedcba9876543210")})
	rotated := NewLinkKeys([][]byte{[]byte("fedcba9876543210"), []byte("0123456789abcdef")})
	now := time.Now()
	members := func(id string) bool { return id == "r1" }
	req := func(node, header string) error {
		r := httptest.NewRequest("POST", "/whep/cam", nil)
		r.Header.Set(NodeHeader, node)
		if header != "" {
			r.Header.Set(LinkHeader, header)
		}
		return keys.Verify(r, "cam", now, members)
	}
	cases := []struct {
		name   string
		node   string
		header string
		ok     bool
	}{
		{"a member's", "r1", keys.Sign("r1", "cam", now), true},
		{"signed by the new key of a rotation the checker holds second", "r1", NewLinkKeys([][]byte{[]byte("0123456789abcdef")}).Sign("r1", "cam", now), true},
		{"another stream", "r1", keys.Sign("r1", "lobby", now), false},
		{"stale", "r1", keys.Sign("r1", "cam", now.Add(-2*time.Minute)), false},
		{"not a member", "x", keys.Sign("x", "cam", now), false},
		{"another key", "r1", other.Sign("r1", "cam", now), false},
		{"node header differs", "r2", keys.Sign("r1", "cam", now), false},
		{"missing", "r1", "", false},
		{"garbled", "r1", "r1;x;zz", false},
	}
	for _, c := range cases {
		if err := req(c.node, c.header); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		} else if err != nil && !errors.Is(err, ErrNotMember) {
			t.Errorf("%s: %v, want ErrNotMember", c.name, err)
		}
	}
	r := httptest.NewRequest("POST", "/whep/cam", nil)
	r.Header.Set(NodeHeader, "r1")
	r.Header.Set(LinkHeader, keys.Sign("r1", "cam", now))
	if err := rotated.Verify(r, "cam", now, members); err != nil {
		t.Errorf("a node mid-rotation (new key first, old second) refused a link signed with the old: %v", err)
	}
}

func FuzzLinkHeader(f *testing.F) {
	keys := NewLinkKeys([][]byte{[]byte("0123456789abcdef")})
	f.Add(keys.Sign("r1", "cam", time.Unix(1e9, 0)))
	f.Add(";;")
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("POST", "/whep/cam", nil)
		r.Header.Set(NodeHeader, "r1")
		r.Header.Set(LinkHeader, h)
		// Whatever the header, no panic; one accepted names the node that
		// signed (a spelling of the same signature may differ in case or
		// in the timestamp's leading zeros).
		if keys.Verify(r, "cam", time.Unix(1e9, 0), func(string) bool { return true }) == nil && !strings.HasPrefix(h, "r1;") {
			t.Fatalf("accepted %q", h)
		}
	})
}
