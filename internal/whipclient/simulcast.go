package whipclient

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Layer is one encoding a simulcast test publisher sends: its RID and the
// size of its frames (its bitrate, at the publisher's frame rate).
type Layer struct {
	RID       string
	FrameSize int
}

// SimulcastPublisher is a WHIP publisher of one VP8 source as several
// simulcast encodings (RFC 8853), as a browser with sendEncodings sends:
// a keyframe on each layer at the start and when asked (PLI or FIR on
// that layer's SSRC), delta frames otherwise. Each frame is one packet
// whose payload SimulcastFrame gives, so a viewer can check byte for byte
// which layer and frame it got.
type SimulcastPublisher struct {
	Session *Session
	pc      *webrtc.PeerConnection
	stop    chan struct{}
	wg      sync.WaitGroup
	// Keyframes counts the keyframes sent, over every layer.
	Keyframes atomic.Int64
}

// SimulcastFrame is the VP8 payload (descriptor and frame) of frame i of
// layer rid: a keyframe's frame tag has its P bit clear (RFC 6386 §9.1).
// The frame carries the RID and i, then filler up to size bytes.
func SimulcastFrame(rid string, i uint32, key bool, size int) []byte {
	b := make([]byte, max(size, 8+len(rid)))
	b[0] = 0x10 // S: the start of the frame's first partition (RFC 7741 §4.2)
	b[1] = 0x01 // P set: a delta frame
	if key {
		b[1] = 0x00
	}
	binary.BigEndian.PutUint32(b[2:6], i)
	b[6] = byte(len(rid))
	copy(b[7:], rid)
	for k := 7 + len(rid); k < len(b); k++ {
		b[k] = byte(k) ^ b[7]
	}
	return b
}

// ParseSimulcastFrame reads what SimulcastFrame wrote: ok is false for a
// payload it did not make.
func ParseSimulcastFrame(p []byte) (rid string, i uint32, key, ok bool) {
	if len(p) < 8 || p[0] != 0x10 || p[1] > 1 || 7+int(p[6]) > len(p) {
		return "", 0, false, false
	}
	rid = string(p[7 : 7+int(p[6])])
	i = binary.BigEndian.Uint32(p[2:6])
	key = p[1] == 0
	return rid, i, key, string(SimulcastFrame(rid, i, key, len(p))) == string(p)
}

// ridPackets is how many packets of each encoding carry mid and rid.
const ridPackets = 30

// PublishSimulcast publishes layers at fps frames a second to the WHIP
// endpoint url until Close.
func PublishSimulcast(ctx context.Context, url string, o Options, layers []Layer, fps int) (*SimulcastPublisher, error) {
	if len(layers) == 0 {
		return nil, errors.New("no layers")
	}
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	o.Codecs = []Codec{{Kind: webrtc.RTPCodecTypeVideo, Codec: vp8}} // what it sends, and nothing else
	api, err := NewAPI(o)                                            // default interceptors register the mid and rid extensions
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	tracks := make([]*webrtc.TrackLocalStaticRTP, len(layers))
	for i, l := range layers {
		if tracks[i], err = webrtc.NewTrackLocalStaticRTP(vp8, "video", "simulcast", webrtc.WithRTPStreamID(l.RID)); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	tr, err := pc.AddTransceiverFromTrack(tracks[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	for _, t := range tracks[1:] {
		if err := tr.Sender().AddEncoding(t); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	p := &SimulcastPublisher{pc: pc, stop: make(chan struct{})}
	if p.Session, err = Offer(ctx, url, pc, o); err != nil {
		_ = pc.Close()
		return nil, err
	}
	// Browsers send the mid and rid header extensions (RFC 8843 §15,
	// RFC 8852) at the start of each encoding, until the first receiver
	// report; pion's sender leaves them to the application.
	var midID, ridID uint8
	for _, e := range tr.Sender().GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	if midID == 0 || ridID == 0 {
		p.Close()
		return nil, errors.New("the answer did not take the mid and rid header extensions: simulcast needs them")
	}
	mid := tr.Mid()
	asked := make([]atomic.Bool, len(layers))
	for i, l := range layers {
		asked[i].Store(true) // the first frame of each layer is a keyframe
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				pkts, _, err := tr.Sender().ReadSimulcastRTCP(l.RID)
				if err != nil {
					return
				}
				for _, pkt := range pkts {
					switch pkt.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						asked[i].Store(true)
					}
				}
			}
		}()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(fps))
		defer tick.Stop()
		for n := uint32(0); ; n++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			for i, l := range layers {
				key := asked[i].Swap(false)
				if key {
					p.Keyframes.Add(1)
				}
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n), Timestamp: n * 90000 / uint32(fps), Marker: true},
					Payload: SimulcastFrame(l.RID, n, key, l.FrameSize)}
				if n < ridPackets {
					_ = pkt.Header.SetExtension(midID, []byte(mid))
					_ = pkt.Header.SetExtension(ridID, []byte(l.RID))
				}
				_ = tracks[i].WriteRTP(pkt)
			}
		}
	}()
	return p, nil
}

// Close ends the session and waits for the sender.
func (p *SimulcastPublisher) Close() {
	close(p.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = p.Session.Delete(ctx)
	cancel()
	_ = p.pc.Close()
	p.wg.Wait()
}
