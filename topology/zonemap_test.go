package topology

import (
	"net/netip"
	"strings"
	"testing"
)

func TestZoneMapLongestPrefixWins(t *testing.T) {
	m, err := ParseZoneMap([]byte(`
eu: [10.0.0.0/8, "2001:db8:1::/48"]
us: [10.2.0.0/16, 198.51.100.0/24]
lab: [10.2.3.4/32]
`))
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{
		"10.1.1.1":        "eu",
		"10.2.9.9":        "us",
		"10.2.3.4":        "lab",
		"198.51.100.77":   "us",
		"::ffff:10.2.9.9": "us",
		"2001:db8:1::5":   "eu",
		"203.0.113.1":     "",
	} {
		if got := m.Zone(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Zone(%s) = %q, want %q", addr, got, want)
		}
	}
	var none *ZoneMap
	if none.Zone(netip.MustParseAddr("10.1.1.1")) != "" {
		t.Error("a nil map knows a zone")
	}
}

func TestZoneMapSaysWhatIsWrong(t *testing.T) {
	for text, want := range map[string]string{
		"eu: [10.0.0.0/33]":                  "not a CIDR prefix",
		"eu: [10.0.0.0/8]\nus: [10.0.0.0/8]": "both",
		"eu: 10.0.0.0/8":                     "want lines",
		"eu: [10.0.0.0/8]\nfoo bar":          "want lines",
	} {
		_, err := ParseZoneMap([]byte(text))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseZoneMap(%q) = %v, want an error saying %q", text, err, want)
		}
	}
}
