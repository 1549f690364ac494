package node

import (
	"net"
	"testing"
)

func TestAdvertisedHTTP(t *testing.T) {
	actual := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	cases := []struct{ configured, want string }{
		{"127.0.0.1:0", "127.0.0.1:8080"},
		{"10.1.2.3:8080", "10.1.2.3:8080"},
	}
	for _, c := range cases {
		if got := advertisedHTTP(c.configured, actual); got != c.want {
			t.Errorf("advertisedHTTP(%q) = %q, want %q", c.configured, got, c.want)
		}
	}
	for _, unspecified := range []string{":8080", "0.0.0.0:8080"} {
		got := advertisedHTTP(unspecified, actual)
		if host, port, _ := net.SplitHostPort(got); net.ParseIP(host) == nil || net.ParseIP(host).IsUnspecified() || port != "8080" {
			t.Errorf("unspecified host %q advertised as %q", unspecified, got)
		}
	}
}
