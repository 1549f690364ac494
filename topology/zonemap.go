package topology

import (
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// ZoneMap says which zone a viewer is in from its address (-zone-map), so
// that placement sends it to a node of its own zone: the longest prefix
// that holds the address wins, as in a routing table.
type ZoneMap struct {
	entries []zoneEntry // longest prefix first
}

type zoneEntry struct {
	prefix netip.Prefix
	zone   string
}

// LoadZoneMap reads a YAML file of zone names, each with its list of
// address prefixes:
//
//	eu-west: [10.1.0.0/16, 2001:db8:1::/48]
//	us-east: [10.2.0.0/16, 198.51.100.0/24]
func LoadZoneMap(path string) (*ZoneMap, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-zone-map: %w", err)
	}
	m, err := ParseZoneMap(b)
	if err != nil {
		return nil, fmt.Errorf("-zone-map %s: %w", path, err)
	}
	return m, nil
}

// ParseZoneMap reads what LoadZoneMap reads. A prefix listed under two
// zones is an error: which one a viewer is in would be a guess.
func ParseZoneMap(b []byte) (*ZoneMap, error) {
	var raw map[string][]string
	if err := yaml.UnmarshalStrict(b, &raw); err != nil {
		return nil, fmt.Errorf("want lines of \"zone: [prefix, ...]\": %w", err)
	}
	m := &ZoneMap{}
	seen := map[netip.Prefix]string{}
	for zone, prefixes := range raw {
		if strings.TrimSpace(zone) == "" {
			return nil, fmt.Errorf("a zone with no name")
		}
		for _, s := range prefixes {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("zone %s: %q is not a CIDR prefix (want e.g. 10.1.0.0/16)", zone, s)
			}
			p = p.Masked()
			if other, dup := seen[p]; dup && other != zone {
				return nil, fmt.Errorf("%s is listed under both %s and %s", p, other, zone)
			}
			seen[p] = zone
			m.entries = append(m.entries, zoneEntry{prefix: p, zone: zone})
		}
	}
	sort.SliceStable(m.entries, func(i, j int) bool {
		a, b := m.entries[i].prefix, m.entries[j].prefix
		if a.Bits() != b.Bits() {
			return a.Bits() > b.Bits()
		}
		return a.String() < b.String()
	})
	return m, nil
}

// Zone is the zone of a, "" when no prefix holds it (or m is nil).
func (m *ZoneMap) Zone(a netip.Addr) string {
	if m == nil || !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	for _, e := range m.entries {
		if e.prefix.Contains(a) {
			return e.zone
		}
	}
	return ""
}
