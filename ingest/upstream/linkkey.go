package upstream

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// LinkHeader carries a relay's signature on its WHEP request to a parent:
// "NODE;UNIX-SECONDS;HEX-HMAC".
const LinkHeader = "Relaymesh-Link"

// linkSkew bounds how old (or early) a link signature may be: a captured
// request cannot be replayed later, and nodes' clocks may differ a little.
const linkSkew = 60 * time.Second

// LinkKeys sign and check the WHEP requests nodes make of each other, so a
// parent feeds only members of the cluster (a stranger posing as a relay,
// or a forged directory entry, gets nothing). The keys are derived from
// the cluster's gossip keys: the first signs, every one checks, so they
// rotate with the gossip keyring.
type LinkKeys struct{ keys [][]byte }

// NewLinkKeys derives link keys from gossip keys; nil when there are none
// (an open cluster).
func NewLinkKeys(gossipKeys [][]byte) *LinkKeys {
	if len(gossipKeys) == 0 {
		return nil
	}
	l := &LinkKeys{}
	for _, k := range gossipKeys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte("relaymesh media link v1"))
		l.keys = append(l.keys, m.Sum(nil))
	}
	return l
}

func (l *LinkKeys) mac(key []byte, node, stream string, at int64) []byte {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s\n%s\n%d", node, stream, at)
	return m.Sum(nil)
}

// Sign is the LinkHeader value for node's request for stream.
func (l *LinkKeys) Sign(node, stream string, now time.Time) string {
	at := now.Unix()
	return node + ";" + strconv.FormatInt(at, 10) + ";" + hex.EncodeToString(l.mac(l.keys[0], node, stream, at))
}

// ErrNotMember: a link request without a valid member's signature.
var ErrNotMember = errors.New("not a member's link")

// Verify checks r's LinkHeader for stream: a fresh signature with one of
// the keys, by a node that gossip lists as a member.
func (l *LinkKeys) Verify(r *http.Request, stream string, now time.Time, isMember func(id string) bool) error {
	v := r.Header.Get(LinkHeader)
	if v == "" {
		return ErrNotMember
	}
	parts := strings.Split(v, ";")
	if len(parts) != 3 {
		return ErrNotMember
	}
	at, err := strconv.ParseInt(parts[1], 10, 64)
	sig, herr := hex.DecodeString(parts[2])
	if err != nil || herr != nil {
		return ErrNotMember
	}
	if d := now.Sub(time.Unix(at, 0)); d > linkSkew || d < -linkSkew {
		return ErrNotMember
	}
	for _, k := range l.keys {
		if hmac.Equal(sig, l.mac(k, parts[0], stream, at)) {
			if !isMember(parts[0]) || r.Header.Get(NodeHeader) != parts[0] {
				return ErrNotMember
			}
			return nil
		}
	}
	return ErrNotMember
}
