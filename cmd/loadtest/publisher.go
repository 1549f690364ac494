package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// window is the measurement interval: packets sent inside it are the ones
// whose delivery counts.
type window struct {
	start, end atomic.Int64 // unix nanos; end 0 while open
	sent       atomic.Uint64
}

func (w *window) open() { w.start.Store(time.Now().UnixNano()) }
func (w *window) shut() { w.end.Store(time.Now().UnixNano()) }

func (w *window) contains(t int64) bool {
	s, e := w.start.Load(), w.end.Load()
	return s != 0 && t >= s && (e == 0 || t < e)
}

// publisher sends the HD test stream by WHIP, packetizing itself so that it
// knows when each sequence number left: relaymesh keeps the publisher's
// sequence numbers (translator semantics), so viewers can match them.
type publisher struct {
	sess         *whipclient.Session
	video, audio *webrtc.TrackLocalStaticRTP
	aus, opus    [][]byte
	idr          []bool                 // aus[i] holds an IDR picture
	sendTime     [2][65536]atomic.Int64 // [0] video, [1] audio: unix nanos by sequence number
	window       window

	// A PLI or FIR makes the file player jump to the next IDR, as an
	// encoder would make a keyframe on request (RFC 4585 §6.3.1).
	keyframeWanted atomic.Bool
	rtcpDone       chan struct{}
}

func newPublisher(ctx context.Context, url string) (*publisher, error) {
	return newPublisherOf(ctx, url, mediatest.HD)
}

// newPublisherOf publishes the stream spec describes, over loopback.
func newPublisherOf(ctx context.Context, url string, spec mediatest.Spec) (*publisher, error) {
	return newPublisherOn(ctx, url, spec, nil)
}

// newPublisherOn publishes the stream spec describes with the
// SettingEngine se (nil: whipclient's, for loopback).
func newPublisherOn(ctx context.Context, url string, spec mediatest.Spec, se *webrtc.SettingEngine) (*publisher, error) {
	h264, ogg, err := mediatest.Files(spec)
	if err != nil {
		return nil, err
	}
	p := &publisher{}
	if p.aus, err = whipclient.AccessUnits(h264); err != nil {
		return nil, err
	}
	if p.opus, err = whipclient.OpusPackets(ogg); err != nil {
		return nil, err
	}
	p.idr = make([]bool, len(p.aus))
	for i, au := range p.aus {
		p.idr[i] = hasIDR(au)
	}
	api, err := whipclient.NewAPI(whipclient.Options{Settings: se})
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p.video, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "load")
	p.audio, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "load")
	var videoSender *webrtc.RTPSender
	for _, t := range []webrtc.TrackLocal{p.video, p.audio} {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			_ = pc.Close()
			return nil, err
		}
		if videoSender == nil {
			videoSender = tr.Sender()
		}
	}
	p.rtcpDone = make(chan struct{})
	go p.readRTCP(videoSender)
	if p.sess, err = whipclient.Offer(ctx, url, pc, whipclient.Options{}); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("publish: %w", err)
	}
	return p, nil
}

// start runs the publisher in the background; the returned function stops
// it and waits for it.
func (p *publisher) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.run(ctx) }()
	return func() { cancel(); <-done }
}

// run sends video at 30 fps and audio at 50 packets/s until ctx ends.
func (p *publisher) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		pk := rtp.NewPacketizer(1200, 102, 1, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
		p.loop(ctx, 0, p.video, pk, p.aus, time.Second/30, 3000)
	}()
	go func() {
		defer wg.Done()
		pk := rtp.NewPacketizer(1200, 111, 2, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
		p.loop(ctx, 1, p.audio, pk, p.opus, 20*time.Millisecond, 960)
	}()
	wg.Wait()
}

func (p *publisher) loop(ctx context.Context, k int, t *webrtc.TrackLocalStaticRTP, pk rtp.Packetizer, frames [][]byte, every time.Duration, samples uint32) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := 0; ; i++ {
		if k == 0 && p.keyframeWanted.Swap(false) {
			for j := 0; j < len(frames) && !p.idr[i%len(frames)]; j++ {
				i++
			}
		}
		for _, pkt := range pk.Packetize(frames[i%len(frames)], samples) {
			now := time.Now().UnixNano()
			p.sendTime[k][pkt.SequenceNumber].Store(now)
			if p.window.contains(now) {
				p.window.sent.Add(1)
			}
			_ = t.WriteRTP(pkt)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *publisher) readRTCP(s *webrtc.RTPSender) {
	defer close(p.rtcpDone)
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.keyframeWanted.Store(true)
			}
		}
	}
}

// hasIDR reports whether an Annex-B access unit holds an IDR slice.
func hasIDR(au []byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == 5 {
			return true
		}
	}
	return false
}

func (p *publisher) close() {
	_ = p.sess.PC.Close()
	<-p.rtcpDone
}
