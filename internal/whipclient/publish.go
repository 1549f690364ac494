package whipclient

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Publisher is a WHIP publisher playing H.264 access units (30 fps) and
// Opus packets (20 ms) in a loop until Close: what the multi-process tests
// use as a camera.
type Publisher struct {
	Session *Session
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Publish connects to the WHIP endpoint url and, once media can flow (pion
// drops what is written before DTLS is up), starts playing. audio may be
// nil for a video-only publisher.
func Publish(ctx context.Context, url string, o Options, video, audio [][]byte) (*Publisher, error) {
	api, err := NewAPI(o)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "relaymesh")
	tracks := []*webrtc.TrackLocalStaticSample{v}
	if audio != nil {
		a, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "relaymesh")
		tracks = append(tracks, a)
	}
	for _, tr := range tracks {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	sess, err := Offer(ctx, url, pc, o)
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	select {
	case <-connected:
	case <-ctx.Done():
		_ = pc.Close()
		return nil, ctx.Err()
	case <-time.After(10 * time.Second):
		_ = pc.Close()
		return nil, errors.New("the publisher did not connect within 10 s")
	}
	playCtx, cancel := context.WithCancel(context.Background())
	p := &Publisher{Session: sess, cancel: cancel}
	p.wg.Add(len(tracks))
	go func() { defer p.wg.Done(); _ = Play(playCtx, v, video, time.Second/30, -1) }()
	if audio != nil {
		go func() { defer p.wg.Done(); _ = Play(playCtx, tracks[1], audio, 20*time.Millisecond, -1) }()
	}
	return p, nil
}

// Close stops playing and ends the session with a DELETE.
func (p *Publisher) Close() {
	p.cancel()
	p.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.Session.Delete(ctx)
}

// PublishWhenFree publishes as Publish does, trying again every interval
// while the name is taken (409: its origin has not been declared gone yet),
// as a publisher moving to another origin does, until within has passed
// since it began. It returns the publisher and how long it took.
func PublishWhenFree(ctx context.Context, url string, o Options, video, audio [][]byte, interval, within time.Duration) (*Publisher, time.Duration, error) {
	start := time.Now()
	for {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		p, err := Publish(tctx, url, o, video, audio)
		cancel()
		if err == nil {
			return p, time.Since(start), nil
		}
		if !strings.Contains(err.Error(), "409") || time.Since(start) > within {
			return nil, time.Since(start), err
		}
		select {
		case <-ctx.Done():
			return nil, time.Since(start), ctx.Err()
		case <-time.After(interval):
		}
	}
}
