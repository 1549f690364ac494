package rtmp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest"
	"github.com/relaymesh/relaymesh/ingest/transcode"
	"github.com/relaymesh/relaymesh/internal/webrtchttp"
)

// handler is one RTMP connection.
type handler struct {
	gortmp.DefaultHandler
	s    *Server
	conn net.Conn
	log  *slog.Logger
	app  string
	pub  *publisher
}

// maxTag bounds one FLV tag read into memory (a 4K keyframe fits).
const maxTag = 8 << 20

func (h *handler) OnConnect(_ uint32, cmd *message.NetConnectionConnect) error {
	h.app = cmd.Command.App
	return nil
}

// OnPublish takes rtmp://HOST/live with stream key NAME[?token=TOKEN].
func (h *handler) OnPublish(_ *gortmp.StreamContext, _ uint32, cmd *message.NetStreamPublish) error {
	app, appQuery, _ := strings.Cut(h.app, "?")
	name, query, _ := strings.Cut(cmd.PublishingName, "?")
	log := h.log.With("stream", name)
	refuse := func(msg string) error {
		log.Warn("rtmp publish refused: " + msg)
		return errors.New(msg)
	}
	if strings.Trim(app, "/") != "live" {
		return refuse(fmt.Sprintf("publish to rtmp://HOST:1935/live with the stream name as key, not to application %q", app))
	}
	if err := webrtchttp.CheckStreamName(name); err != nil {
		return refuse(err.Message)
	}
	if t := h.s.p.Token; t != "" {
		got := tokenOf(query)
		if got == "" {
			got = tokenOf(appQuery)
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(t)) != 1 {
			return refuse("missing or wrong publish token (stream key NAME?token=TOKEN)")
		}
	}
	if h.s.p.Claim != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := h.s.p.Claim(ctx, name)
		cancel()
		if err != nil {
			var he *webrtchttp.Error
			if errors.As(err, &he) {
				return refuse(he.Message)
			}
			return refuse(err.Error())
		}
	}
	pub, err := h.s.p.Registry.Publish(name)
	if err != nil {
		return refuse("the stream is already being published")
	}
	h.pub = &publisher{name: name, pub: pub, log: log, bitrate: h.s.p.AudioBitrate, warned: map[string]bool{}}
	log.Info("publisher joined", "role", "publisher", "via", "rtmp")
	return nil
}

func tokenOf(query string) string {
	q, err := url.ParseQuery(query)
	if err != nil {
		return ""
	}
	return q.Get("token")
}

func (h *handler) OnVideo(ts uint32, payload io.Reader) error {
	if h.pub == nil {
		return nil
	}
	b, err := readTag(payload)
	if err != nil {
		return err
	}
	h.pub.video(ts, b)
	return nil
}

func (h *handler) OnAudio(ts uint32, payload io.Reader) error {
	if h.pub == nil {
		return nil
	}
	b, err := readTag(payload)
	if err != nil {
		return err
	}
	h.pub.audio(ts, b)
	return nil
}

func readTag(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxTag+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxTag {
		return nil, fmt.Errorf("an FLV tag over %d bytes", maxTag)
	}
	return b, nil
}

func (h *handler) OnClose() {
	if h.pub != nil {
		h.pub.close()
		h.log.Info("publisher left", "stream", h.pub.name, "role", "publisher", "via", "rtmp")
	}
	h.s.forget(h.conn)
}

// publisher turns one RTMP publish into fanout tracks.
type publisher struct {
	name    string
	pub     *fanout.Publication
	log     *slog.Logger
	bitrate int
	warned  map[string]bool

	vtrack        *fanout.Track
	vpk           rtp.Packetizer
	vps, sps, pps []byte // vps for HEVC only
	lengthSize    int

	atrack  *fanout.Track
	apk     rtp.Packetizer
	aac     transcode.AACToOpus
	audioTS uint32
	aStart  bool
	settled bool
}

// warn logs a problem with the stream once.
func (p *publisher) warn(key, msg string, args ...any) {
	if !p.warned[key] {
		p.warned[key] = true
		p.log.Warn(msg, args...)
	}
}

func (p *publisher) video(ts uint32, b []byte) {
	tag, err := parseVideo(b)
	if errors.Is(err, errNotAVC) {
		p.warn("vcodec", "rtmp video dropped: H.264, HEVC, AV1 and VP9 reach WebRTC viewers from RTMP", "err", err)
		return
	}
	if err != nil {
		p.warn("vtag", "rtmp video tag unreadable", "err", err)
		return
	}
	switch tag.codec {
	case "hvc1":
		p.hevc(ts, tag)
		return
	case "av01", "vp09":
		p.enhancedVideo(ts, tag)
		return
	}
	if tag.header {
		sps, pps, ls, err := avcConfig(tag.data)
		if err != nil {
			p.warn("vconf", "rtmp AVC configuration unreadable", "err", err)
			return
		}
		p.sps, p.pps, p.lengthSize = append([]byte(nil), sps...), append([]byte(nil), pps...), ls
		if p.vtrack == nil {
			p.vtrack = p.pub.Track(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: fanout.Codec{MimeType: "video/H264", ClockRate: 90000,
				Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + ingest.H264ProfileLevelID(sps)}})
			p.vpk = rtp.NewPacketizer(1200, 96, 0x1a2b3c4d, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
		}
		return
	}
	if p.vtrack == nil || tag.data == nil {
		return // coded frames before the configuration cannot be decoded
	}
	// SPS and PPS before an IDR that lacks them (RFC 6184 §8.4: a receiver
	// joining there needs them).
	p.nalFrame(ts, tag, hasSPS, p.sps, p.pps)
}

// nalFrame sends one frame of length-prefixed NAL units (H.264, HEVC) as
// Annex B for the payloader, at its presentation time on the 90 kHz clock,
// with the parameter sets in front when it is a keyframe that does not
// carry its own.
func (p *publisher) nalFrame(ts uint32, tag videoTag, carries func([][]byte) bool, sets ...[]byte) {
	nalus, err := splitNALUs(tag.data, p.lengthSize)
	if err != nil {
		p.warn("vnalu", "rtmp video frame unreadable", "err", err)
		return
	}
	p.settle()
	var annexB []byte
	if tag.keyframe && !carries(nalus) {
		for _, s := range sets {
			annexB = appendNALU(annexB, s)
		}
	}
	for _, n := range nalus {
		annexB = appendNALU(annexB, n)
	}
	rtpTS := uint32((int64(ts) + int64(tag.cts)) * 90)
	for _, pkt := range p.vpk.Packetize(annexB, 0) {
		pkt.Timestamp = rtpTS
		p.vtrack.Write(&fanout.Packet{Header: pkt.Header, Payload: pkt.Payload})
	}
}

// enhancedVideo takes Enhanced RTMP's AV1 and VP9: their frames go to RTP
// as they are; the sequence start only opens the track.
func (p *publisher) enhancedVideo(ts uint32, tag videoTag) {
	if tag.header {
		if p.vtrack != nil {
			return
		}
		c := fanout.Codec{MimeType: "video/AV1", ClockRate: 90000}
		var pay rtp.Payloader = &codecs.AV1Payloader{}
		if tag.codec == "vp09" {
			c = fanout.Codec{MimeType: "video/VP9", ClockRate: 90000, Fmtp: "profile-id=0"}
			pay = &codecs.VP9Payloader{}
		}
		p.vtrack = p.pub.Track(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: c})
		p.vpk = rtp.NewPacketizer(1200, 96, 0x1a2b3c4d, pay, rtp.NewRandomSequencer(), 90000)
		return
	}
	if p.vtrack == nil || len(tag.data) == 0 {
		return
	}
	p.settle()
	for _, pkt := range p.vpk.Packetize(tag.data, 0) {
		pkt.Timestamp = ts * 90
		p.vtrack.Write(&fanout.Packet{Header: pkt.Header, Payload: pkt.Payload})
	}
}

func hasSPS(nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) > 0 && n[0]&0x1f == 7 {
			return true
		}
	}
	return false
}

func appendNALU(b, n []byte) []byte { return append(append(b, 0, 0, 0, 1), n...) }

func (p *publisher) audio(ts uint32, b []byte) {
	tag, err := parseAudio(b)
	if errors.Is(err, errNotAAC) {
		p.warn("acodec", "rtmp audio dropped: only AAC (transcoded to Opus) is taken from RTMP", "err", err)
		return
	}
	if err != nil {
		p.warn("atag", "rtmp audio tag unreadable", "err", err)
		return
	}
	if tag.opus {
		p.opus(ts, tag)
		return
	}
	if tag.header {
		if p.aac != nil {
			return
		}
		tr, err := transcode.New(transcode.Params{Config: tag.data, Bitrate: p.bitrate})
		if err != nil {
			p.warn("aconf", "rtmp AAC audio dropped", "err", err)
			return
		}
		p.aac = tr
		if p.atrack == nil {
			p.atrack = p.pub.Track(fanout.TrackParams{ID: "audio", Kind: fanout.KindAudio,
				Codec: fanout.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"}})
			p.apk = rtp.NewPacketizer(1200, 111, 0x5e6f7a8b, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
		}
		return
	}
	if p.aac == nil || p.atrack == nil {
		return
	}
	p.settle()
	pkts, err := p.aac.Push(tag.data)
	if err != nil {
		p.warn("adec", "rtmp AAC frame not decoded", "err", err)
	}
	if !p.aStart {
		p.aStart, p.audioTS = true, ts*48 // FLV milliseconds on the 48 kHz clock
	}
	for _, op := range pkts {
		for _, pkt := range p.apk.Packetize(op, 0) {
			pkt.Timestamp = p.audioTS
			p.atrack.Write(&fanout.Packet{Header: pkt.Header, Payload: pkt.Payload})
		}
		p.audioTS += transcode.FrameSamples
	}
}

// opus takes Enhanced RTMP's Opus as it is: no transcoding needed.
func (p *publisher) opus(ts uint32, tag audioTag) {
	if p.atrack == nil {
		p.atrack = p.pub.Track(fanout.TrackParams{ID: "audio", Kind: fanout.KindAudio,
			Codec: fanout.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"}})
		p.apk = rtp.NewPacketizer(1200, 111, 0x5e6f7a8b, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	}
	if tag.header || len(tag.data) == 0 {
		return
	}
	p.settle()
	for _, pkt := range p.apk.Packetize(tag.data, 0) {
		pkt.Timestamp = ts * 48
		p.atrack.Write(&fanout.Packet{Header: pkt.Header, Payload: pkt.Payload})
	}
}

// settle tells the stream its tracks are all there: the first coded frame
// comes after the sequence headers of both.
func (p *publisher) settle() {
	if !p.settled {
		p.settled = true
		p.pub.Settle()
	}
}

func (p *publisher) close() {
	p.pub.End()
	if p.aac != nil {
		p.aac.Close()
	}
}
