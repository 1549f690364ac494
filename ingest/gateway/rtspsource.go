package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/codec"
)

// RTSPSource pulls rtsp:// URLs (cameras, NVRs, another server) over TCP,
// which crosses NATs and firewalls where UDP often does not.
type RTSPSource struct{ URL string }

func (s RTSPSource) String() string { return s.URL }

type rtspFeed struct {
	queue
	c      *gortsplib.Client
	codecs []fanout.Codec
	wg     sync.WaitGroup
}

// Open connects, describes and plays the medias WebRTC can carry.
func (s RTSPSource) Open(ctx context.Context) (Feed, error) {
	u, err := base.ParseURL(s.URL)
	if err != nil {
		return nil, err
	}
	tcp := gortsplib.ProtocolTCP
	f := &rtspFeed{c: &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}, queue: newQueue()}
	if err := f.c.Start(); err != nil {
		return nil, err
	}
	desc, _, err := f.c.Describe(u)
	if err != nil {
		f.c.Close()
		return nil, err
	}
	type chosen struct {
		m  *description.Media
		fm format.Format
	}
	var picks []chosen
	for _, m := range desc.Medias {
		for _, fm := range m.Formats {
			if c := codec.OfRTSP(fm); c.MimeType != "" {
				f.codecs, picks = append(f.codecs, c), append(picks, chosen{m, fm})
				break
			}
		}
	}
	if len(picks) == 0 {
		f.c.Close()
		return nil, errors.New("the source has no track WebRTC can carry (H.264, H.265, VP8, VP9, AV1, Opus, G.711)")
	}
	for _, p := range picks {
		if _, err := f.c.Setup(desc.BaseURL, p.m, 0, 0); err != nil {
			f.c.Close()
			return nil, fmt.Errorf("setup %s: %w", p.m.Type, err)
		}
	}
	// Callbacks go on set-up medias only.
	for i, p := range picks {
		var ps *codec.ParamSets
		switch h := p.fm.(type) {
		case *format.H264:
			ps = codec.NewParamSets(h.SPS, h.PPS)
		case *format.H265:
			ps = codec.NewH265ParamSets(h.VPS, h.SPS, h.PPS)
		}
		f.c.OnPacketRTP(p.m, p.fm, func(pkt *rtp.Packet) {
			out := []*rtp.Packet{pkt}
			if ps != nil {
				out = ps.Process(pkt)
			}
			for _, q := range out {
				select {
				case f.pkts <- indexed{i, q}:
				default: // the WHIP side is stuck: drop rather than stall the reader
				}
			}
		})
	}
	if _, err := f.c.Play(nil); err != nil {
		f.c.Close()
		return nil, err
	}
	f.wg.Add(1)
	go func() { defer f.wg.Done(); f.err = f.c.Wait(); close(f.done) }()
	return f, nil
}

func (f *rtspFeed) Codecs() []fanout.Codec { return f.codecs }

func (f *rtspFeed) Close() {
	f.c.Close()
	f.wg.Wait()
}
