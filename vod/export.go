package vod

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/pion/rtp"
	rtpcodecs "github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/relaymesh/relaymesh/recorder"
)

// serveExport serves one track of a recording in its codec's own
// container, for tools and players that want the elementary stream rather
// than MP4: IVF for VP8, VP9 and AV1 video (pion's ivfwriter), Ogg for
// Opus audio (pion's oggwriter). VP8 is where this fits best: browsers do
// not play VP8 in MP4. The writers take RTP, so each stored sample is
// packetized again on its recorded clock; the file is made as it is sent.
func (s *Server) serveExport(w http.ResponseWriter, m *recorder.Meta, dir, kind string) {
	raw, err := os.ReadFile(filepath.Join(dir, recorder.InitName))
	if err != nil {
		httpError(w, http.StatusNotFound, "this recording's init.mp4 is missing")
		return
	}
	init, vp8, err := recorder.ParseInit(raw)
	if err != nil {
		httpError(w, http.StatusNotFound, "this recording's init.mp4 is unreadable")
		return
	}
	var track *fmp4.InitTrack
	var mime string
	for _, t := range init.Tracks {
		switch t.Codec.(type) {
		case *codecs.VP9:
			if kind == "ivf" {
				track, mime = t, "video/VP9"
				if vp8 {
					mime = "video/VP8"
				}
			}
		case *codecs.AV1:
			if kind == "ivf" {
				track, mime = t, "video/AV1"
			}
		case *codecs.Opus:
			if kind == "ogg" {
				track = t
			}
		}
	}
	if track == nil {
		what := map[string]string{"ivf": "IVF carries VP8, VP9 and AV1 video", "ogg": "Ogg carries Opus audio"}[kind]
		httpError(w, http.StatusNotFound, fmt.Sprintf("%s; this recording has %v: use %s.mp4", what, m.Codecs, m.ID))
		return
	}
	var out exportWriter
	var pay rtp.Payloader
	if kind == "ivf" {
		w.Header().Set("Content-Type", "video/x-ivf")
		iw, err := ivfwriter.NewWith(w, ivfwriter.WithCodec(mime), ivfwriter.WithFrameRate(1, track.TimeScale), ivfwriter.WithDirectPTS())
		if err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		out = iw
		pay = map[string]rtp.Payloader{"video/VP8": &rtpcodecs.VP8Payloader{EnablePictureID: true},
			"video/VP9": &rtpcodecs.VP9Payloader{}, "video/AV1": &rtpcodecs.AV1Payloader{}}[mime]
	} else {
		w.Header().Set("Content-Type", "audio/ogg")
		ch := track.Codec.(*codecs.Opus).ChannelCount
		ow, err := oggwriter.NewWith(w, track.TimeScale, uint16(ch))
		if err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		out = ow
		pay = &rtpcodecs.OpusPayloader{}
	}
	pk := rtp.NewPacketizer(1200, 96, 1, pay, rtp.NewFixedSequencer(1), track.TimeScale)
	for _, sg := range m.Segments {
		if err := exportSegment(filepath.Join(dir, sg.Name), track.ID, pk, out); err != nil {
			s.Log.Warn("recording export cut short", "stream", m.Stream, "id", m.ID, "segment", sg.Name, "err", err)
			break
		}
	}
	_ = out.Close()
}

// exportWriter is what ivfwriter and oggwriter have in common.
type exportWriter interface {
	WriteRTP(*rtp.Packet) error
	io.Closer
}

// exportSegment writes one segment's samples of track id, each at its
// decode time on the track's clock.
func exportSegment(path string, id int, pk rtp.Packetizer, out exportWriter) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(raw); err != nil {
		return err
	}
	for _, p := range parts {
		for _, t := range p.Tracks {
			if t.ID != id {
				continue
			}
			dts := t.BaseTime
			for _, smp := range t.Samples {
				for _, pkt := range pk.Packetize(smp.Payload, 0) {
					pkt.Timestamp = uint32(dts)
					if err := out.WriteRTP(pkt); err != nil {
						return err
					}
				}
				dts += uint64(smp.Duration)
			}
		}
	}
	return nil
}
