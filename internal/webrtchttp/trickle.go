package webrtchttp

import (
	"bufio"
	"errors"
	"strings"
)

// Fragment is a parsed application/trickle-ice-sdpfrag body (RFC 8840 §9):
// the ICE credentials it was generated with and its candidates by mid.
type Fragment struct {
	Ufrag, Pwd      string
	Candidates      []Candidate
	EndOfCandidates bool
}

// Candidate is one a=candidate line and the media section it belongs to.
type Candidate struct {
	Mid       string
	Candidate string // "candidate:..." without "a="
}

// ParseFragment parses an SDP fragment. Lines it does not need are ignored,
// as RFC 8840 asks of receivers.
func ParseFragment(body string) (*Fragment, error) {
	f := &Fragment{}
	mid := ""
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.Ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.Pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "m="):
			mid = ""
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=candidate:"):
			f.Candidates = append(f.Candidates, Candidate{Mid: mid, Candidate: strings.TrimPrefix(line, "a=")})
		case line == "a=end-of-candidates":
			f.EndOfCandidates = true
		case len(line) < 2 || line[1] != '=':
			return nil, errors.New("the body is not an SDP fragment: a line does not start with x=")
		}
	}
	if f.Ufrag == "" && len(f.Candidates) == 0 && !f.EndOfCandidates {
		return nil, errors.New("the SDP fragment has neither ICE credentials nor candidates")
	}
	if (f.Ufrag == "") != (f.Pwd == "") {
		return nil, errors.New("the SDP fragment has only one of a=ice-ufrag and a=ice-pwd")
	}
	return f, nil
}
