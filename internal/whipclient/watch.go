package whipclient

import (
	"context"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/codec"
)

// Arrival is one received RTP packet, as a watcher saw it.
type Arrival struct {
	At       time.Time
	SSRC     uint32
	Seq      uint16
	TS       uint32 // RTP timestamp
	Keyframe bool   // the packet starts or carries a keyframe
	Payload  []byte // with Options.KeepPayloads only
	// Padding is how many padding-only packets (a simulcast leg's probe)
	// came since the packet before: they take sequence numbers too.
	Padding int
}

// Watcher is a WHEP viewer that records when each video packet arrives:
// what failover tests and the load tool measure gaps with.
type Watcher struct {
	Session *Session

	mu      sync.Mutex
	video   []Arrival
	padding int // padding-only packets
	tracks  int
	states  []webrtc.PeerConnectionState
	readers sync.WaitGroup
}

// Watch connects a video-only viewer to the WHEP endpoint url.
func Watch(ctx context.Context, url string, o Options) (*Watcher, error) {
	api, err := NewAPI(o)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		_ = pc.Close()
		return nil, err
	}
	w := &Watcher{}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		w.mu.Lock()
		w.states = append(w.states, s)
		w.mu.Unlock()
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		w.mu.Lock()
		w.tracks++
		w.mu.Unlock()
		w.readers.Add(1)
		go func() {
			defer w.readers.Done()
			mime := tr.Codec().MimeType
			padding := 0
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				if len(p.Payload) == 0 && p.Padding {
					// Dropped before the depacketizer, as a browser does.
					padding++
					w.mu.Lock()
					w.padding++
					w.mu.Unlock()
					continue
				}
				a := Arrival{At: time.Now(), SSRC: p.SSRC, Seq: p.SequenceNumber, TS: p.Timestamp, Keyframe: codec.IsKeyframe(mime, p.Payload), Padding: padding}
				padding = 0
				if o.KeepPayloads {
					a.Payload = p.Payload
				}
				w.mu.Lock()
				w.video = append(w.video, a)
				w.mu.Unlock()
			}
		}()
	})
	if w.Session, err = Offer(ctx, url, pc, o); err != nil {
		_ = pc.Close()
		return nil, err
	}
	return w, nil
}

// Close ends the session and waits for the reader.
func (w *Watcher) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = w.Session.Delete(ctx)
	cancel()
	w.readers.Wait()
}

// Video returns the video packets received so far.
func (w *Watcher) Video() []Arrival {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Arrival(nil), w.video...)
}

// Padding is the number of padding-only video packets received (a
// simulcast leg probing its link sends them).
func (w *Watcher) Padding() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.padding
}

// Count is the number of video packets received so far.
func (w *Watcher) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.video)
}

// Steady reports whether the viewer kept one session all along: connected
// once and never since disconnected, one track, one SSRC. A viewer that
// had to reconnect, or whose decoder was handed a new stream, is not.
func (w *Watcher) Steady() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.states {
		if s != webrtc.PeerConnectionStateNew && s != webrtc.PeerConnectionStateConnecting && s != webrtc.PeerConnectionStateConnected {
			return false
		}
	}
	for _, a := range w.video {
		if a.SSRC != w.video[0].SSRC {
			return false
		}
	}
	return w.tracks == 1 && w.Session.PC.ConnectionState() == webrtc.PeerConnectionStateConnected
}

// Outage measures the longest silence that ends after t (a kill, say):
// the last packet before it, the first after it (the gap is resumed minus
// last) and the first keyframe from then on. ok is false until a keyframe
// has arrived after the silence.
func (w *Watcher) Outage(t time.Time) (last, resumed, keyframe time.Time, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := -1
	for i := 1; i < len(w.video); i++ {
		if w.video[i].At.After(t) && (at < 0 || w.video[i].At.Sub(w.video[i-1].At) > resumed.Sub(last)) {
			at, last, resumed = i, w.video[i-1].At, w.video[i].At
		}
	}
	if at < 0 {
		return last, resumed, keyframe, false
	}
	for _, a := range w.video[at:] {
		if a.Keyframe {
			return last, resumed, a.At, true
		}
	}
	return last, resumed, keyframe, false
}

// LargestGap is the longest silence between two video packets that arrived
// after t.
func (w *Watcher) LargestGap(t time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var gap time.Duration
	for i := 1; i < len(w.video); i++ {
		if w.video[i].At.After(t) {
			gap = max(gap, w.video[i].At.Sub(w.video[i-1].At))
		}
	}
	return gap
}

// Frames counts the video frames (distinct RTP timestamps) that began to
// arrive in [from, to).
func (w *Watcher) Frames(from, to time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[uint32]bool{}
	for _, a := range w.video {
		if !a.At.Before(from) && a.At.Before(to) {
			seen[a.TS] = true
		}
	}
	return len(seen)
}
