package clientaddr

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClientBelievesOnlyTrustedProxies(t *testing.T) {
	ps, err := ParseProxies("10.0.0.0/8, 192.168.1.7, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer string
		xff, fwd   []string
		want       string
	}{
		{"no proxy: the peer", "203.0.113.5:4000", nil, nil, "203.0.113.5"},
		{"an untrusted peer's header is ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, nil, "203.0.113.5"},
		{"a trusted peer vouches for the client", "10.1.2.3:4000", []string{"198.51.100.1"}, nil, "198.51.100.1"},
		{"a single trusted address", "192.168.1.7:80", []string{"198.51.100.1"}, nil, "198.51.100.1"},
		{"a forged entry left of the client proves nothing", "10.1.2.3:4000", []string{"1.1.1.1, 198.51.100.1"}, nil, "198.51.100.1"},
		{"a chain of trusted proxies", "10.1.2.3:4000", []string{"198.51.100.1, 10.9.9.9"}, nil, "198.51.100.1"},
		{"several header lines are one list", "10.1.2.3:4000", []string{"1.1.1.1", "198.51.100.1, 10.9.9.9"}, nil, "198.51.100.1"},
		{"every hop trusted: the leftmost", "10.1.2.3:4000", []string{"10.4.4.4, 10.9.9.9"}, nil, "10.4.4.4"},
		{"garbage ends the walk at the last proxy", "10.1.2.3:4000", []string{"198.51.100.1, bogus"}, nil, "10.1.2.3"},
		{"a trusted peer with no header", "10.1.2.3:4000", nil, nil, "10.1.2.3"},
		{"Forwarded wins over X-Forwarded-For", "10.1.2.3:4000", []string{"198.51.100.1"}, []string{"for=198.51.100.9;proto=https"}, "198.51.100.9"},
		{"Forwarded IPv6 with a port, quoted", "10.1.2.3:4000", nil, []string{`for="[2001:db8:cafe::17]:4711", for=10.9.9.9`}, "2001:db8:cafe::17"},
		{"Forwarded obfuscated", "10.1.2.3:4000", nil, []string{`for=_hidden`}, "10.1.2.3"},
		{"IPv6 peer in a trusted prefix", "[fd00::1]:4000", []string{"2001:db8::9"}, nil, "2001:db8::9"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:4000", []string{"198.51.100.1"}, nil, "198.51.100.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range c.xff {
				h.Add("X-Forwarded-For", v)
			}
			for _, v := range c.fwd {
				h.Add("Forwarded", v)
			}
			if got := ps.Client(c.peer, h); got.String() != c.want {
				t.Fatalf("Client(%s, %v) = %s, want %s", c.peer, h, got, c.want)
			}
		})
	}
}

func TestParseProxiesSaysWhatIsWrong(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/8/2"} {
		if _, err := ParseProxies(bad); err == nil {
			t.Errorf("ParseProxies(%q) accepted it", bad)
		}
	}
	if ps, err := ParseProxies(" , 10.0.0.1 ,"); err != nil || len(ps) != 1 {
		t.Fatalf("ParseProxies with blanks = %v, %v", ps, err)
	}
}

func TestWrapShowsTheClientToTheHandler(t *testing.T) {
	ps, _ := ParseProxies("127.0.0.0/8")
	var seen string
	h := ps.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if seen != "198.51.100.1:0" {
		t.Fatalf("handler saw %q, want 198.51.100.1:0", seen)
	}
	r.RemoteAddr = "203.0.113.1:5555" // not trusted: left as it is
	h.ServeHTTP(httptest.NewRecorder(), r)
	if seen != "203.0.113.1:5555" {
		t.Fatalf("handler saw %q for an untrusted peer", seen)
	}
}
