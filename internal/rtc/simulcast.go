package rtc

import (
	"regexp"
	"strings"

	"github.com/pion/sdp/v3"
)

// ridSyntax is RFC 8851 §10's rid-id, without what would break track ids.
var ridSyntax = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)

// SendRIDs lists the RIDs of the encodings an offer's or answer's media
// section sends as simulcast (RFC 8853 §5.1: a=simulcast:send, each RID
// also declared by a=rid:ID send, RFC 8851 §4), in the order listed;
// [""] for a section that is not simulcast. Of alternatives ("h,h2") the
// first is taken; a paused RID ("~l") is still a layer.
func SendRIDs(m *sdp.MediaDescription) []string {
	declared := map[string]bool{}
	for _, a := range m.Attributes {
		if a.Key != "rid" {
			continue
		}
		if id, dir, _ := strings.Cut(a.Value, " "); strings.HasPrefix(dir, "send") && ridSyntax.MatchString(id) {
			declared[id] = true
		}
	}
	sim, ok := m.Attribute("simulcast")
	if !ok || len(declared) == 0 {
		return []string{""}
	}
	var out []string
	fields := strings.Fields(sim)
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] != "send" {
			continue
		}
		for _, alt := range strings.Split(fields[i+1], ";") {
			id := strings.TrimPrefix(strings.Split(alt, ",")[0], "~")
			if declared[id] && !contains(out, id) {
				out = append(out, id)
			}
		}
	}
	if len(out) == 0 {
		return []string{""}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
