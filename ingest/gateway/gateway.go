// Package gateway is bin/ingest's engine: it pulls a source the mesh cannot
// receive by push (an RTSP camera, a file) and publishes it into an origin
// over WHIP, reconnecting with backoff when either side drops.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/fanout"
)

// Source opens a feed of RTP packets.
type Source interface {
	Open(ctx context.Context) (Feed, error)
	String() string
}

// Feed is an open source: its tracks, then their packets.
type Feed interface {
	// Codecs are the feed's tracks; Next's track indexes them.
	Codecs() []fanout.Codec
	// Next blocks for the next packet; an error ends the feed.
	Next(ctx context.Context) (track int, pkt *rtp.Packet, err error)
	Close()
}

// Params configures Run.
type Params struct {
	Source Source
	WHIP   string // the origin's WHIP endpoint, e.g. http://origin:8080/whip/cam
	Token  string
	// Settings, if set, replaces pion's default network settings.
	Settings *webrtc.SettingEngine
	Log      *slog.Logger
	// MaxBackoff bounds the wait between reconnects; zero means 10 s.
	MaxBackoff time.Duration
}

// Stats are what the progress line shows.
type Stats struct {
	Started    time.Time
	Bytes      atomic.Uint64 // media payload sent
	Reconnects atomic.Int64
	Connected  atomic.Bool
}

// Run pulls and publishes until ctx ends, reconnecting with exponential
// backoff (250 ms doubling to MaxBackoff) after any failure on either side.
func Run(ctx context.Context, p Params, st *Stats) error {
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 10 * time.Second
	}
	st.Started = time.Now()
	backoff := time.Duration(0)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			st.Reconnects.Add(1)
			backoff = min(max(2*backoff, 250*time.Millisecond), p.MaxBackoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
		}
		err := once(ctx, p, st)
		st.Connected.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		p.Log.Warn("ingest interrupted; reconnecting", "source", p.Source.String(), "err", err, "in", backoff)
		if errors.Is(err, errStable) {
			backoff = 0 // it ran for a while: start the backoff over
		}
	}
}

var errStable = errors.New("the session had been up for a while")

// once runs one source-to-WHIP session.
func once(ctx context.Context, p Params, st *Stats) error {
	feed, err := p.Source.Open(ctx)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer feed.Close()
	sink, err := publish(ctx, p, feed.Codecs())
	if err != nil {
		return fmt.Errorf("whip: %w", err)
	}
	defer sink.close()
	p.Log.Info("ingesting", "source", p.Source.String(), "whip", p.WHIP, "tracks", len(feed.Codecs()))
	st.Connected.Store(true)
	start := time.Now()
	stable := func(err error) error {
		if time.Since(start) > 30*time.Second {
			return fmt.Errorf("%w: %w", errStable, err)
		}
		return err
	}
	for {
		select {
		case <-sink.failed:
			return stable(errors.New("the origin's session failed"))
		default:
		}
		i, pkt, err := feed.Next(ctx)
		if err != nil {
			return stable(fmt.Errorf("source: %w", err))
		}
		if i < 0 || i >= len(sink.tracks) || sink.tracks[i] == nil {
			continue
		}
		if err := sink.tracks[i].WriteRTP(pkt); err != nil {
			return stable(fmt.Errorf("whip: %w", err))
		}
		st.Bytes.Add(uint64(len(pkt.Payload)))
	}
}
