package webrtchttp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Peer is the session side of one WHIP or WHEP resource: a PeerConnection
// that answered an offer, with trickle ICE and ICE restart by PATCH and an
// ETag that names the current ICE session (RFC 9725 §4.3).
//
// Lifecycle: Answer → connected → Close (by DELETE, by ICE failure, or by
// the watchdog when ICE/DTLS never complete). OnClose runs once, on the
// goroutine that closed the peer.
type Peer struct {
	PC *webrtc.PeerConnection

	mu         sync.Mutex
	candidates int // trickled so far, bounded by MaxCandidates
	etag       string
	closed     bool
	onClose    []func()
	onConnect  []func()
	connected  bool
	done       chan struct{}
	ext        map[string]extension // by name
}

// NewPeer wraps pc. connectTimeout closes the peer if it has not connected
// by then (a client that posts an offer and disappears).
func NewPeer(pc *webrtc.PeerConnection) *Peer {
	p := &Peer{PC: pc, etag: newETag(), done: make(chan struct{})}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			p.connect()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			p.Close()
		}
	})
	return p
}

// OnConnected registers f to run once when the peer first connects (ICE and
// DTLS done); never if it closes first.
func (p *Peer) OnConnected(f func()) {
	p.mu.Lock()
	if p.connected && !p.closed {
		p.mu.Unlock()
		f()
		return
	}
	p.onConnect = append(p.onConnect, f)
	p.mu.Unlock()
}

func (p *Peer) connect() {
	p.mu.Lock()
	if p.connected || p.closed {
		p.mu.Unlock()
		return
	}
	p.connected = true
	fs := p.onConnect
	p.onConnect = nil
	p.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// Watch closes the peer if it is not connected within timeout. The timer is
// the runtime's; Close stops it.
func (p *Peer) Watch(timeout time.Duration) {
	t := time.AfterFunc(timeout, func() {
		if p.PC.ConnectionState() != webrtc.PeerConnectionStateConnected {
			p.Close()
		}
	})
	p.OnClose(func() { t.Stop() })
}

// OnClose registers f to run once when the peer closes.
func (p *Peer) OnClose(f func()) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		f()
		return
	}
	p.onClose = append(p.onClose, f)
	p.mu.Unlock()
}

// Done is closed once the peer has closed.
func (p *Peer) Done() <-chan struct{} { return p.done }

// ETag is the entity tag of the session's current ICE session.
func (p *Peer) ETag() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.etag
}

// Answer applies the offer, runs prepare (which may choose codecs and add
// tracks to the transceivers the offer created), and returns the answer with
// every candidate in it: the node's candidates are known at once (one UDP
// port, no STUN), so clients that do not trickle need nothing more.
func (p *Peer) Answer(ctx context.Context, offer string, prepare func() error) (string, error) {
	if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", Errorf(http.StatusBadRequest, "the SDP offer could not be applied: %v", err)
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return "", err
		}
	}
	return p.answer(ctx)
}

func (p *Peer) answer(ctx context.Context) (string, error) {
	ans, err := p.PC.CreateAnswer(nil)
	if err != nil {
		return "", Errorf(http.StatusBadRequest, "no answer is possible for this offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(p.PC)
	if err := p.PC.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return p.PC.LocalDescription().SDP, nil
}

// Patch handles a PATCH of the session (RFC 9725 §4.3): new candidates are
// added (204); new ICE credentials restart ICE and the answer's new
// credentials and candidates are returned (200) with a new ETag. ifMatch is
// the If-Match header: "*" or an ETag; a stale one gives 412.
func (p *Peer) Patch(ctx context.Context, body, ifMatch string) (status int, frag string, etag string, err error) {
	f, perr := ParseFragment(body)
	if perr != nil {
		return 0, "", "", Errorf(http.StatusBadRequest, "%v", perr)
	}
	cur := p.ETag()
	if ifMatch != "" && ifMatch != "*" && strings.Trim(ifMatch, `W/"`) != strings.Trim(cur, `"`) {
		return 0, "", "", Errorf(http.StatusPreconditionFailed, "If-Match %s does not name the current ICE session %s", ifMatch, cur)
	}
	remote := p.PC.RemoteDescription()
	if remote == nil {
		return 0, "", "", Errorf(http.StatusConflict, "the session has no offer applied")
	}
	p.mu.Lock()
	p.candidates += len(f.Candidates)
	over := p.candidates > MaxCandidates
	p.mu.Unlock()
	if over {
		return 0, "", "", Errorf(http.StatusRequestEntityTooLarge, "this session has had %d candidates; it takes at most %d", MaxCandidates, MaxCandidates)
	}
	curUfrag, _ := iceCredentials(remote.SDP)
	if f.Ufrag != "" && f.Ufrag != curUfrag {
		return p.restart(ctx, remote.SDP, f)
	}
	for _, c := range f.Candidates {
		mid := c.Mid
		init := webrtc.ICECandidateInit{Candidate: c.Candidate}
		if mid != "" {
			init.SDPMid = &mid
		} else {
			zero := uint16(0)
			init.SDPMLineIndex = &zero
		}
		if err := p.PC.AddICECandidate(init); err != nil {
			return 0, "", "", Errorf(http.StatusBadRequest, "candidate %q was refused: %v", c.Candidate, err)
		}
	}
	return http.StatusNoContent, "", cur, nil
}

var (
	ufragLine     = regexp.MustCompile(`(?m)^a=ice-ufrag:.*$`)
	pwdLine       = regexp.MustCompile(`(?m)^a=ice-pwd:.*$`)
	candidateLine = regexp.MustCompile(`(?m)^a=(candidate:.*|end-of-candidates)\r?\n`)
)

// restart re-applies the client's original offer with its new credentials,
// which makes pion restart ICE as an answerer, and answers with the new
// local credentials and candidates.
func (p *Peer) restart(ctx context.Context, offer string, f *Fragment) (int, string, string, error) {
	offer = candidateLine.ReplaceAllString(offer, "")
	offer = ufragLine.ReplaceAllString(offer, "a=ice-ufrag:"+f.Ufrag)
	offer = pwdLine.ReplaceAllString(offer, "a=ice-pwd:"+f.Pwd)
	if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return 0, "", "", Errorf(http.StatusBadRequest, "ICE restart refused: %v", err)
	}
	for _, c := range f.Candidates {
		mid := c.Mid
		_ = p.PC.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: &mid})
	}
	ans, err := p.answer(ctx)
	if err != nil {
		return 0, "", "", err
	}
	p.mu.Lock()
	p.etag = newETag()
	etag := p.etag
	p.mu.Unlock()
	return http.StatusOK, answerFragment(ans), etag, nil
}

// answerFragment is the part of an answer a restarting client needs.
func answerFragment(answer string) string {
	ufrag, pwd := iceCredentials(answer)
	var b strings.Builder
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", ufrag, pwd)
	mid := ""
	for _, line := range strings.Split(answer, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "m="):
			b.WriteString(line + "\r\n")
		case strings.HasPrefix(line, "a=mid:") && mid != line:
			mid = line
			b.WriteString(line + "\r\n")
		case strings.HasPrefix(line, "a=candidate:"), line == "a=end-of-candidates":
			b.WriteString(line + "\r\n")
		}
	}
	return b.String()
}

func iceCredentials(sdp string) (ufrag, pwd string) {
	if m := ufragLine.FindString(sdp); m != "" {
		ufrag = strings.TrimSpace(strings.TrimPrefix(m, "a=ice-ufrag:"))
	}
	if m := pwdLine.FindString(sdp); m != "" {
		pwd = strings.TrimSpace(strings.TrimPrefix(m, "a=ice-pwd:"))
	}
	return ufrag, pwd
}

// Close closes the PeerConnection and runs the OnClose functions. Idempotent.
func (p *Peer) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	fns := p.onClose
	p.onClose, p.onConnect = nil, nil
	p.mu.Unlock()
	_ = p.PC.Close()
	for _, f := range fns {
		f()
	}
	close(p.done)
}

func newETag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return `"` + hex.EncodeToString(b[:]) + `"`
}

// NewID returns a random session id for a resource URL.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
