package node

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// Chromium publishes, then reconnects as a WHIP client does (a new POST on
// a new peer connection, after a DELETE or after only closing the old one,
// as a reloaded page does), while a viewer stays: the new POST reaches the
// viewer, keyframe and all, in well under a second. It took about 2.5 s
// once.
func TestBrowserPublisherReconnectReachesTheViewerFast(t *testing.T) {
	for _, how := range []string{"delete", "close"} {
		t.Run(how, func(t *testing.T) { browserReconnect(t, how) })
	}
}

func browserReconnect(t *testing.T, how string) {
	n, base := startNode(t)
	type result struct {
		PostAt           int64  `json:"postAt"`
		AnsweredAt       int64  `json:"answeredAt"`
		Posts            int    `json:"posts"`
		State            string `json:"state"`
		KeyFramesEncoded int    `json:"keyFramesEncoded"`
		PLICount         int    `json:"pliCount"`
	}
	// The viewer joins while the first session publishes; the script, which
	// blocks, runs on the test's goroutine.
	type joined struct {
		v   *whipclient.Watcher
		err error
	}
	viewer := make(chan joined, 1)
	go func() {
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if s, ok := n.Registry().Get("again"); ok && s.Live() && len(s.Tracks()) == 2 {
				v, err := whipclient.Watch(context.Background(), base+"/whep/again", whipclient.Options{})
				viewer <- joined{v, err}
				return
			}
		}
		viewer <- joined{err: errors.New("Chromium's stream never appeared")}
	}()
	line := runNodeScript(t, "reconnect.mjs", base, "again", "4", how)
	j := <-viewer
	if j.err != nil {
		t.Fatal(j.err)
	}
	v := j.v
	defer v.Close()
	var res result
	if err := json.Unmarshal([]byte(line), &res); err != nil || res.PostAt == 0 {
		t.Fatalf("unreadable result %q: %v", line, err)
	}
	post := time.UnixMilli(res.PostAt)
	var first, key time.Time
	for _, a := range v.Video() {
		if a.At.After(post) && first.IsZero() {
			first = a.At
		}
		if a.At.After(post) && a.Keyframe {
			key = a.At
			break
		}
	}
	if first.IsZero() || key.IsZero() {
		t.Fatalf("no video (first %v) or no keyframe (%v) at the viewer after the new POST", first, key)
	}
	t.Logf("Chromium's new POST (%s first): answered after %d ms and %d POSTs, first video at the viewer after %v, keyframe after %v (%d keyframes encoded, %d PLIs)",
		how, res.AnsweredAt-res.PostAt, res.Posts, first.Sub(post).Round(time.Millisecond), key.Sub(post).Round(time.Millisecond), res.KeyFramesEncoded, res.PLICount)
	if !v.Steady() {
		t.Fatal("the viewer lost its session or saw a new SSRC across the reconnect")
	}
	if d := key.Sub(post); d > time.Second {
		t.Fatalf("the reconnect reached the viewer %v after the new POST", d)
	}
}
