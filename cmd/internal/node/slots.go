package node

import (
	"errors"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/relaymesh/relaymesh/internal/errs"
)

// errRateLimited: one client address opens sessions too fast.
var errRateLimited = errors.New("rate limited")

// slots hold -max-sessions as a reservation made before any work (ICE
// gathering, DTLS, a transcoder) is done, so a burst of concurrent offers
// cannot pass the cap; WHIP, WHEP, RTMP and RTSP sessions all take one.
// Each client address also has a token bucket for opening sessions and a
// cap on its sessions still connecting, so one client cannot fill the node
// with half-open sessions (offers whose ICE never completes hold a slot for
// the connect timeout: at 12 such offers a second, a token bucket alone
// lets one client hold 180). Safe for concurrent use.
type slots struct {
	max      int
	rate     rate.Limit
	burst    int
	halfOpen int // per client address

	mu      sync.Mutex
	used    int
	clients map[string]*rate.Limiter
	pending map[string]int // sessions still connecting, by client address
}

// maxClientBuckets bounds the per-client limiters kept; past it, they are
// forgotten and start full again (a flood of addresses costs bounded memory).
const maxClientBuckets = 16384

func newSlots(max int, perSecond float64, burst, halfOpen int) *slots {
	return &slots{max: max, rate: rate.Limit(perSecond), burst: burst, halfOpen: halfOpen,
		clients: map[string]*rate.Limiter{}, pending: map[string]int{}}
}

func hostOf(client string) string {
	if host, _, err := net.SplitHostPort(client); err == nil {
		return host
	}
	return client
}

// connecting counts a WebRTC session of client's as still connecting, or
// says no when the client already has its share of those; settled,
// idempotent, is called once the session connects or ends.
func (s *slots) connecting(client string) (settled func(), err error) {
	host := hostOf(client)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[host] >= s.halfOpen {
		return nil, errs.Errorf(errRateLimited, "%s has %d sessions still connecting; finish those first", host, s.halfOpen)
	}
	s.pending[host]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.pending[host]--; s.pending[host] == 0 {
				delete(s.pending, host)
			}
			s.mu.Unlock()
		})
	}, nil
}

// reserve takes a slot for client (host:port or host), or says why not;
// release, idempotent, gives it back.
func (s *slots) reserve(client string) (release func(), err error) {
	host := hostOf(client)
	s.mu.Lock()
	defer s.mu.Unlock()
	lim := s.clients[host]
	if lim == nil {
		if len(s.clients) >= maxClientBuckets {
			s.clients = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(s.rate, s.burst)
		s.clients[host] = lim
	}
	if !lim.Allow() {
		return nil, errs.Errorf(errRateLimited, "%s opens sessions faster than %g a second; slow down", host, float64(s.rate))
	}
	if s.used >= s.max {
		return nil, errs.Errorf(errAtCapacity, "this node is at capacity (%d sessions); try another node", s.max)
	}
	s.used++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.used--
			s.mu.Unlock()
		})
	}, nil
}

// inUse is the number of slots held.
func (s *slots) inUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// retryAfterRate is what a rate-limited client is told to wait.
const retryAfterRate = time.Second
