package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/rtc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// sink is the WHIP side: one send-only track per feed track.
type sink struct {
	sess   *whipclient.Session
	tracks []*webrtc.TrackLocalStaticRTP
	failed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup // RTCP readers
}

func publish(ctx context.Context, p Params, codecs []fanout.Codec) (*sink, error) {
	// Offer exactly the source's codecs (NACK and keyframe requests on
	// video): offered pion's defaults, the origin could pick an H.264
	// profile other than the one the source sends.
	var offer []whipclient.Codec
	for _, c := range codecs {
		wc := whipclient.Codec{Kind: rtc.CodecType(c.Kind()), Codec: rtc.Capability(c)}
		if wc.Kind == webrtc.RTPCodecTypeVideo {
			wc.Codec.RTCPFeedback = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBNACK}, {Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"}, {Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"}}
		}
		offer = append(offer, wc)
	}
	api, err := whipclient.NewAPI(whipclient.Options{Settings: p.Settings, Codecs: offer})
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	s := &sink{failed: make(chan struct{})}
	for i, c := range codecs {
		kind := "video"
		if rtc.CodecType(c.Kind()) == webrtc.RTPCodecTypeAudio {
			kind = "audio"
		}
		t, err := webrtc.NewTrackLocalStaticRTP(rtc.Capability(c), fmt.Sprintf("%s%d", kind, i), "ingest")
		if err != nil {
			_ = pc.Close()
			return nil, err
		}
		sender, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			_ = pc.Close()
			return nil, fmt.Errorf("the origin's side cannot send %s: %w", c.MimeType, err)
		}
		s.tracks = append(s.tracks, t)
		s.wg.Add(1)
		go func() { // RTCP must be read for pion's interceptors to work
			defer s.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Sender().Read(buf); err != nil {
					return
				}
			}
		}()
	}
	connected := make(chan struct{})
	var conn sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			conn.Do(func() { close(connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
			s.once.Do(func() { close(s.failed) })
		}
	})
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if s.sess, err = whipclient.Offer(octx, p.WHIP, pc, whipclient.Options{Token: p.Token}); err != nil {
		_ = pc.Close()
		s.wg.Wait()
		return nil, err
	}
	select {
	case <-connected:
		return s, nil
	case <-octx.Done():
		s.close()
		return nil, errors.New("no media connection to the origin within 10 s")
	}
}

// close ends the WHIP session (DELETE) and waits for the RTCP readers.
func (s *sink) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.sess.Delete(ctx)
	s.wg.Wait()
}
