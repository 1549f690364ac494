package node

import (
	"net"
	"testing"
)

func TestAdvertisedHTTP(t *testing.T) {
	actual := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	cases := []struct {
		configured string
		public     []string
		want       string
	}{
		{"127.0.0.1:0", nil, "127.0.0.1:8080"},
		{"10.1.2.3:8080", []string{"203.0.113.9"}, "10.1.2.3:8080"},
		{":8080", []string{"203.0.113.9"}, "203.0.113.9:8080"},
		{"0.0.0.0:8080", []string{"203.0.113.9"}, "203.0.113.9:8080"},
	}
	for _, c := range cases {
		if got := advertisedHTTP(c.configured, actual, c.public); got != c.want {
			t.Errorf("advertisedHTTP(%q, %v) = %q, want %q", c.configured, c.public, got, c.want)
		}
	}
	if got := advertisedHTTP(":8080", actual, nil); got == ":8080" || got == "" {
		t.Errorf("unspecified host advertised as %q", got)
	}
}
