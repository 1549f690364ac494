package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// runAbuse measures an origin under the attacks of the access-control
// issue (#12), on loopback, each against a fresh origin with the default
// limits unless said: idle connections on every TCP listener, a burst of
// concurrent WHEP offers past -max-sessions, offers that never connect at
// 12 a second, and one viewer's NACK flood.
func runAbuse(ctx context.Context, originBin string, conns int) error {
	logs, err := os.MkdirTemp("", "relaymesh-abuse")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logs)
	start := func(args ...string) (*nodeproc.Proc, string, string, error) {
		rtmp, rtsp := "127.0.0.1:"+strconv.Itoa(freePort()), "127.0.0.1:"+strconv.Itoa(freePort())
		// nodeproc lifts the limits for load runs; these flags put the
		// defaults back, then the run's own.
		base := []string{"-rtmp", rtmp, "-rtsp", rtsp, "-rtsp-udp", "", "-log-level", "warn", "-max-sessions", "2000", "-session-rate", "20"}
		p, err := nodeproc.Start(ctx, originBin, "origin", nodeproc.Options{LogDir: logs, Args: append(base, args...)})
		return p, rtmp, rtsp, err
	}
	steps := []func() error{
		func() error { return idleFlood(ctx, start, conns) },
		func() error { return offerBurst(ctx, start, 3000) },
		func() error { return halfOpenFlood(ctx, start) },
		func() error { return nackFlood(ctx, start) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

type startFunc func(args ...string) (p *nodeproc.Proc, rtmp, rtsp string, err error)

// idleFlood holds n idle TCP connections spread over the HTTP, RTMP and
// RTSP listeners, then checks that /healthz, a WHIP publisher and a WHEP
// viewer still get in.
func idleFlood(ctx context.Context, start startFunc, n int) error {
	origin, rtmp, rtsp, err := start()
	if err != nil {
		return err
	}
	defer origin.Kill()
	rss0, _ := rssBytes(origin.PID)
	targets := []string{strings.TrimPrefix(origin.Base, "http://"), rtmp, rtsp}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	refused := 0
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", targets[i%3], 2*time.Second)
		if err != nil {
			refused++
			continue
		}
		held = append(held, c)
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", origin.PID))
	rss1, _ := rssBytes(origin.PID)
	t0 := time.Now()
	health := "ok"
	if res, err := http.Get(origin.Base + "/healthz"); err != nil {
		health = err.Error()
	} else {
		res.Body.Close()
	}
	healthMS := time.Since(t0).Seconds() * 1000
	pub, err := newPublisher(ctx, origin.Base+"/whip/flood")
	if err != nil {
		return fmt.Errorf("a publisher during %d idle connections: %w", n, err)
	}
	defer pub.close()
	defer pub.start(ctx)()
	time.Sleep(time.Second)
	vs, err := connectViewers(ctx, origin.Base+"/whep/flood", 1, pub)
	vs.close()
	if err != nil {
		return fmt.Errorf("a viewer during %d idle connections: %w", n, err)
	}
	for _, c := range held {
		_ = c.Close()
	}
	held = nil
	time.Sleep(3 * time.Second)
	rss2, _ := rssBytes(origin.PID)
	fmt.Printf("abuse idle: %d idle connections (%d refused at connect) on HTTP, RTMP, RTSP; origin holds %d fds; healthz %s in %.1f ms; publisher and viewer got in; RSS %.0f MB before, %.0f MB during, %.0f MB after\n",
		n, refused, len(fds), health, healthMS, float64(rss0)/1e6, float64(rss1)/1e6, float64(rss2)/1e6)
	return nil
}

// recvOffer is a viewer's offer (video and audio, receive only) from a
// peer that is closed at once: a session made from it never connects.
// Without candidates, it is what a trickling client posts first.
func recvOffer(ctx context.Context, candidates bool) (string, error) {
	api, err := whipclient.NewAPI(whipclient.Options{Light: true})
	if err != nil {
		return "", err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return "", err
		}
	}
	offer, err := whipclient.LocalOffer(ctx, pc)
	if err != nil || candidates {
		return offer, err
	}
	var kept []string
	for _, l := range strings.SplitAfter(offer, "\n") {
		if !strings.HasPrefix(l, "a=candidate") && !strings.HasPrefix(l, "a=end-of-candidates") {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, ""), nil
}

// clientFrom is an HTTP client whose connections come from ip, one of
// 127.0.0.0/8: another client address, as far as the origin sees.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 20 * time.Second}
}

// spreadIP is the i-th of many loopback client addresses.
func spreadIP(i int) string { return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1) }

func postOffer(ctx context.Context, hc *http.Client, url, offer string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(offer))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// offerBurst posts n WHEP offers at once, each from its own address (past
// any per-client limit), against -max-sessions 50.
func offerBurst(ctx context.Context, start startFunc, n int) error {
	origin, _, _, err := start("-max-sessions", "50")
	if err != nil {
		return err
	}
	defer origin.Kill()
	pub, err := newPublisher(ctx, origin.Base+"/whip/burst")
	if err != nil {
		return err
	}
	defer pub.close()
	defer pub.start(ctx)()
	time.Sleep(time.Second)
	offer, err := recvOffer(ctx, true)
	if err != nil {
		return err
	}
	var created, refused, other atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch code, _ := postOffer(ctx, clientFrom(spreadIP(i)), origin.Base+"/whep/burst", offer); code {
			case http.StatusCreated:
				created.Add(1)
			case http.StatusServiceUnavailable:
				refused.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("abuse offers: %d concurrent WHEP offers from %d addresses against -max-sessions 50 (the publisher holds 1): %d sessions created, %d refused with 503, %d other\n",
		n, n, created.Load(), refused.Load(), other.Load())
	return nil
}

// halfOpenFlood: one address posts offers without candidates, 12 a second,
// that never connect, against -max-sessions 50, while a viewer from
// another address tries to join once a second.
func halfOpenFlood(ctx context.Context, start startFunc) error {
	origin, _, _, err := start("-max-sessions", "50")
	if err != nil {
		return err
	}
	defer origin.Kill()
	pub, err := newPublisher(ctx, origin.Base+"/whip/half")
	if err != nil {
		return err
	}
	defer pub.close()
	defer pub.start(ctx)()
	time.Sleep(time.Second)
	offer, err := recvOffer(ctx, false)
	if err != nil {
		return err
	}
	const seconds = 20
	floodCtx, stop := context.WithTimeout(ctx, seconds*time.Second)
	defer stop()
	var accepted atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		attacker := clientFrom("127.0.0.9")
		tick := time.NewTicker(time.Second / 12)
		defer tick.Stop()
		for {
			select {
			case <-floodCtx.Done():
				return
			case <-tick.C:
				if code, _ := postOffer(floodCtx, attacker, origin.Base+"/whep/half", offer); code == http.StatusCreated {
					accepted.Add(1)
				}
			}
		}
	}()
	joined, tried := 0, 0
	time.Sleep(2 * time.Second) // the flood is under way
	for floodCtx.Err() == nil {
		tried++
		vs, err := connectViewersFrom(ctx, origin.Base+"/whep/half", pub, spreadIP(tried))
		if err == nil {
			joined++
		}
		vs.close()
		time.Sleep(time.Second)
	}
	<-done
	fmt.Printf("abuse half-open: %d s of 12 never-connecting offers a second from one address against -max-sessions 50: %d of them accepted; legitimate viewers from other addresses: %d of %d got in\n",
		seconds, accepted.Load(), joined, tried)
	return nil
}

// connectViewersFrom joins one viewer whose HTTP comes from ip.
func connectViewersFrom(ctx context.Context, url string, pub *publisher, ip string) (*viewers, error) {
	vs := &viewers{pub: pub}
	api, err := whipclient.NewAPI(whipclient.Options{Light: true})
	if err != nil {
		return vs, err
	}
	return vs, vs.joinWith(ctx, api, url, whipclient.Options{HTTP: clientFrom(ip)})
}
