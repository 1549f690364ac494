package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/relaymesh/relaymesh/internal/errs"
)

// webhook asks an HTTP endpoint (SRS's on_publish/on_play, MediaMTX's
// HTTP auth): a JSON document describing the access is POSTed, a 2xx
// allows, 401 and 403 refuse as themselves, anything else refuses. A
// webhook that cannot be asked in time refuses too (fail closed), with one
// log line per outage rather than one per request. Answers are cached
// briefly, so a player's retries and a page's several requests cost one
// call.
type webhook struct {
	url     string
	client  *http.Client
	log     *slog.Logger
	allowed time.Duration // how long an allow is remembered
	denied  time.Duration // and a refusal

	mu    sync.Mutex
	cache map[webhookKey]webhookAnswer
	down  bool // the last call failed: logged once until it works again
}

// webhookBody is what the webhook receives.
type webhookBody struct {
	Action   Action `json:"action"`
	Protocol string `json:"protocol"`
	Stream   string `json:"stream"`
	Client   string `json:"client"`
	Token    string `json:"token,omitempty"`
	Query    string `json:"query,omitempty"`
}

type webhookKey struct {
	action        Action
	stream, token string
	client, proto string
}

type webhookAnswer struct {
	err     error
	expires time.Time
}

const webhookCacheMax = 4096

func newWebhook(url string, timeout time.Duration, log *slog.Logger) *webhook {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &webhook{url: url, client: &http.Client{Timeout: timeout}, log: log,
		allowed: 10 * time.Second, denied: 2 * time.Second, cache: map[webhookKey]webhookAnswer{}}
}

func (w *webhook) decide(ctx context.Context, r Request) error {
	key := webhookKey{r.Action, r.Stream, r.Token, r.Client, r.Protocol}
	now := time.Now()
	w.mu.Lock()
	if a, ok := w.cache[key]; ok && now.Before(a.expires) {
		w.mu.Unlock()
		return a.err
	}
	w.mu.Unlock()

	err, cacheable := w.call(ctx, r)
	if cacheable {
		ttl := w.allowed
		if err != nil {
			ttl = w.denied
		}
		w.mu.Lock()
		if len(w.cache) >= webhookCacheMax {
			for k, a := range w.cache {
				if now.After(a.expires) {
					delete(w.cache, k)
				}
			}
			if len(w.cache) >= webhookCacheMax {
				w.cache = map[webhookKey]webhookAnswer{} // a flood of distinct keys: start over
			}
		}
		w.cache[key] = webhookAnswer{err: err, expires: now.Add(ttl)}
		w.mu.Unlock()
	}
	return err
}

// call asks the webhook; cacheable is false when it could not be asked.
func (w *webhook) call(ctx context.Context, r Request) (err error, cacheable bool) {
	body, _ := json.Marshal(webhookBody{Action: r.Action, Protocol: r.Protocol, Stream: r.Stream, Client: r.Client, Token: r.Token, Query: r.Query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return errs.Errorf(ErrUnavailable, "the authorization webhook is misconfigured"), false
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := w.client.Do(req)
	if err != nil {
		w.outage(err)
		return errs.Errorf(ErrUnavailable, "authorization is unavailable right now; retry shortly"), false
	}
	defer res.Body.Close()
	w.recovered()
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return nil, true
	case res.StatusCode == http.StatusUnauthorized:
		return unauthorized(r), true
	case res.StatusCode >= 500:
		w.outage(fmt.Errorf("status %d", res.StatusCode))
		return errs.Errorf(ErrUnavailable, "authorization is unavailable right now; retry shortly"), false
	}
	return forbidden(r), true
}

func (w *webhook) outage(err error) {
	w.mu.Lock()
	first := !w.down
	w.down = true
	w.mu.Unlock()
	if first {
		w.log.Error("the authorization webhook cannot be asked: every access it decides is refused until it answers", "url", w.url, "err", err)
	}
}

func (w *webhook) recovered() {
	w.mu.Lock()
	was := w.down
	w.down = false
	w.mu.Unlock()
	if was {
		w.log.Info("the authorization webhook answers again", "url", w.url)
	}
}
