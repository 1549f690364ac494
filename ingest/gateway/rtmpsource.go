package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest/rtmp"
)

// RTMPSource plays rtmp:// URLs (another server, a CDN edge, an encoder in
// listen mode) and converts them as the origin converts pushed RTMP: AAC to
// Opus, parameter sets before keyframes, Enhanced RTMP codecs. The
// conversion publishes into a private fanout registry, the same core the
// origin uses, whose tracks then feed the WHIP side.
type RTMPSource struct {
	URL          string
	AudioBitrate int // Opus bitrate for transcoded AAC; zero means 128 kbit/s
	Log          *slog.Logger
}

func (s RTMPSource) String() string { return s.URL }

// settleTimeout bounds the wait for the source's first coded frame.
const settleTimeout = 10 * time.Second

type rtmpFeed struct {
	queue
	reg    *fanout.Registry
	subs   []*fanout.Subscriber
	codecs []fanout.Codec
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open connects and plays, and returns once the stream's tracks are known
// (its sequence headers and first coded frame have arrived).
func (s RTMPSource) Open(ctx context.Context) (Feed, error) {
	changed := make(chan struct{}, 1)
	f := &rtmpFeed{queue: newQueue()}
	f.reg = fanout.NewRegistry(fanout.RegistryParams{OnChange: func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}})
	pub, err := f.reg.Publish("pull")
	if err != nil {
		f.reg.Close()
		return nil, err
	}
	var pctx context.Context
	pctx, f.cancel = context.WithCancel(ctx)
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.err = rtmp.Pull(pctx, s.URL, pub, rtmp.PullParams{AudioBitrate: s.AudioBitrate, Log: log})
		close(f.done)
	}()
	timeout := time.NewTimer(settleTimeout)
	defer timeout.Stop()
	for {
		select {
		case <-changed:
			if st, ok := f.reg.Get("pull"); ok && st.Live() && len(st.Tracks()) > 0 {
				return f, f.subscribe(st.Tracks())
			}
		case <-f.done:
			f.Close()
			return nil, f.err
		case <-timeout.C:
			f.Close()
			return nil, fmt.Errorf("no media from the source within %v", settleTimeout)
		}
	}
}

// subscribe feeds every track's packets, in order per track, to Next.
func (f *rtmpFeed) subscribe(tracks []*fanout.Track) error {
	for i, t := range tracks {
		f.codecs = append(f.codecs, t.Codec())
		sub, err := t.Subscribe(&feedWriter{i: i, pkts: f.pkts})
		if err != nil {
			f.Close()
			return errors.New("the source ended while starting")
		}
		f.subs = append(f.subs, sub)
	}
	return nil
}

// feedWriter is a fanout subscriber that hands packets to the feed's
// channel; the subscriber's own queue absorbs bursts, and a stuck WHIP
// side drops packets rather than stall the conversion.
type feedWriter struct {
	i    int
	pkts chan indexed
}

func (w *feedWriter) WritePacket(p *fanout.Packet) error {
	select {
	case w.pkts <- indexed{w.i, &rtp.Packet{Header: p.Header, Payload: p.Payload}}:
	default:
	}
	return nil
}

func (f *rtmpFeed) Codecs() []fanout.Codec { return f.codecs }

// Close stops the pull and waits for it and for the subscribers.
func (f *rtmpFeed) Close() {
	f.cancel()
	f.wg.Wait()
	for _, s := range f.subs {
		s.Close()
	}
	f.reg.Close()
}
