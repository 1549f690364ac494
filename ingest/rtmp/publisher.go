package rtmp

import (
	"bytes"
	"log/slog"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest/transcode"
	"github.com/relaymesh/relaymesh/internal/codec"
)

// publisher turns one RTMP stream, pushed (FLV tags from go-rtmp, flvtags.go)
// or pulled (access units from gortmplib, pull.go), into fanout tracks.
// Both go through the same frame path below: parameter sets in-band before
// keyframes, presentation times on the RTP clocks, AAC transcoded to Opus
// once. Not safe for concurrent use: one connection's goroutine feeds it.
type publisher struct {
	name    string
	pub     *fanout.Publication
	log     *slog.Logger
	bitrate int
	warned  map[string]bool

	vtrack        *fanout.Track
	vpk           rtp.Packetizer
	vps, sps, pps []byte // vps for HEVC only
	lengthSize    int    // FLV's NAL unit length prefix

	atrack  *fanout.Track
	apk     rtp.Packetizer
	aac     transcode.AACToOpus
	audioTS uint32
	aStart  bool
	settled bool
}

func newPublisher(name string, pub *fanout.Publication, log *slog.Logger, bitrate int) *publisher {
	return &publisher{name: name, pub: pub, log: log, bitrate: bitrate, warned: map[string]bool{}}
}

// warn logs a problem with the stream once.
func (p *publisher) warn(key, msg string, args ...any) {
	if !p.warned[key] {
		p.warned[key] = true
		p.log.Warn(msg, args...)
	}
}

// rtp90 is a presentation time on the 90 kHz video clock; FLV's
// millisecond resolution is all RTMP carries.
func rtp90(pts time.Duration) uint32 { return uint32(int64(pts/time.Millisecond) * 90) }

// h264Config opens the H.264 track (once) with the stream's parameter sets;
// newer sets replace the old ones.
func (p *publisher) h264Config(sps, pps []byte) {
	p.sps, p.pps = bytes.Clone(sps), bytes.Clone(pps)
	if p.vtrack == nil {
		p.vtrack = p.pub.Track(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: codec.H264FromSPS(sps)})
		p.vpk = rtp.NewPacketizer(1200, 96, 0x1a2b3c4d, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	}
}

// h265Config takes Enhanced RTMP's HEVC (OBS 30+, ffmpeg 6.1+) as H.264:
// the parameter sets go in-band before every keyframe that lacks them (a
// viewer joining there needs them, RFC 7798 §7.2). Viewers that decode
// H.265 get it; others are told the codec.
func (p *publisher) h265Config(vps, sps, pps []byte) {
	p.vps, p.sps, p.pps = bytes.Clone(vps), bytes.Clone(sps), bytes.Clone(pps)
	if p.vtrack == nil {
		p.vtrack = p.pub.Track(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: codec.H265FromSPS(sps)})
		p.vpk = rtp.NewPacketizer(1200, 96, 0x1a2b3c4d, &codecs.H265Payloader{}, rtp.NewRandomSequencer(), 90000)
	}
}

// h264 sends one H.264 access unit, with SPS and PPS in front of an IDR
// that lacks them (RFC 6184 §8.4: a receiver joining there needs them).
func (p *publisher) h264(pts time.Duration, keyframe bool, nalus [][]byte) {
	if p.vtrack == nil || p.sps == nil {
		return // frames before the configuration cannot be decoded
	}
	p.nalAU(pts, keyframe, nalus, hasSPS, p.sps, p.pps)
}

// h265 is h264 for HEVC: VPS, SPS and PPS before an IRAP picture.
func (p *publisher) h265(pts time.Duration, keyframe bool, nalus [][]byte) {
	if p.vtrack == nil || p.vps == nil {
		return
	}
	p.nalAU(pts, keyframe, nalus, hasVPS, p.vps, p.sps, p.pps)
}

// nalAU sends one access unit of NAL units as Annex B for the payloader,
// at its presentation time, with the parameter sets in front when it is a
// keyframe that does not carry its own.
func (p *publisher) nalAU(pts time.Duration, keyframe bool, nalus [][]byte, carries func([][]byte) bool, sets ...[]byte) {
	if len(nalus) == 0 {
		return
	}
	p.settle()
	var annexB []byte
	if keyframe && !carries(nalus) {
		for _, s := range sets {
			annexB = appendNALU(annexB, s)
		}
	}
	for _, n := range nalus {
		annexB = appendNALU(annexB, n)
	}
	p.writeVideo(rtp90(pts), annexB)
}

// enhancedConfig opens the track of Enhanced RTMP's AV1 ("av01") or VP9
// ("vp09"): their frames go to RTP as they are.
func (p *publisher) enhancedConfig(fourcc string) {
	if p.vtrack != nil {
		return
	}
	c := codec.Codec{MimeType: codec.MimeAV1, ClockRate: 90000}
	var pay rtp.Payloader = &codecs.AV1Payloader{}
	if fourcc == "vp09" {
		c = codec.Codec{MimeType: codec.MimeVP9, ClockRate: 90000, Fmtp: "profile-id=0"}
		pay = &codecs.VP9Payloader{}
	}
	p.vtrack = p.pub.Track(fanout.TrackParams{ID: "video", Kind: fanout.KindVideo, Codec: c})
	p.vpk = rtp.NewPacketizer(1200, 96, 0x1a2b3c4d, pay, rtp.NewRandomSequencer(), 90000)
}

// enhancedFrame sends one AV1 temporal unit (low-overhead OBUs) or VP9
// frame.
func (p *publisher) enhancedFrame(pts time.Duration, frame []byte) {
	if p.vtrack == nil || len(frame) == 0 {
		return
	}
	p.settle()
	p.writeVideo(rtp90(pts), frame)
}

func (p *publisher) writeVideo(ts uint32, frame []byte) {
	for _, pkt := range p.vpk.Packetize(frame, 0) {
		pkt.Timestamp = ts
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

func hasVPS(nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) > 0 && n[0]>>1&0x3f == 32 {
			return true
		}
	}
	return false
}

func appendNALU(b, n []byte) []byte { return append(append(b, 0, 0, 0, 1), n...) }

// aacConfig opens the audio track and its transcoder from the AAC
// AudioSpecificConfig; WebRTC viewers play Opus, so AAC is transcoded
// once per stream, never per viewer.
func (p *publisher) aacConfig(asc []byte) {
	if p.aac != nil {
		return
	}
	tr, err := transcode.New(transcode.Params{Config: asc, Bitrate: p.bitrate})
	if err != nil {
		p.warn("aconf", "rtmp AAC audio dropped", "err", err)
		return
	}
	p.aac = tr
	p.openOpus()
}

// aacAU transcodes one AAC access unit. The Opus timeline starts at the
// first unit's time and runs on the transcoder's 20 ms frames after it.
func (p *publisher) aacAU(pts time.Duration, au []byte) {
	if p.aac == nil || p.atrack == nil {
		return
	}
	p.settle()
	pkts, err := p.aac.Push(au)
	if err != nil {
		p.warn("adec", "rtmp AAC frame not decoded", "err", err)
	}
	if !p.aStart {
		p.aStart, p.audioTS = true, uint32(int64(pts/time.Millisecond)*48)
	}
	for _, op := range pkts {
		p.writeAudio(p.audioTS, op)
		p.audioTS += transcode.FrameSamples
	}
}

func (p *publisher) openOpus() {
	if p.atrack == nil {
		p.atrack = p.pub.Track(fanout.TrackParams{ID: "audio", Kind: fanout.KindAudio, Codec: codec.Opus})
		p.apk = rtp.NewPacketizer(1200, 111, 0x5e6f7a8b, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	}
}

// opus takes Enhanced RTMP's Opus as it is: no transcoding needed.
func (p *publisher) opus(pts time.Duration, packet []byte) {
	p.openOpus()
	if len(packet) == 0 {
		return
	}
	p.settle()
	p.writeAudio(uint32(int64(pts/time.Millisecond)*48), packet)
}

func (p *publisher) writeAudio(ts uint32, packet []byte) {
	for _, pkt := range p.apk.Packetize(packet, 0) {
		pkt.Timestamp = ts
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
