package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// viewers are N WHEP clients without interceptors (no NACKs, no reports):
// they cost the load machine as little as a viewer can, so the figures are
// the server's.
type viewers struct {
	pcs      []*webrtc.PeerConnection
	mu       sync.Mutex
	wg       sync.WaitGroup // read loops
	received atomic.Uint64  // packets sent in the window and received
	hist     hist
	pub      *publisher
	light    *lightNet // light viewers' sockets (light.go); nil for full ones
}

func connectViewers(ctx context.Context, url string, n int, pub *publisher) (*viewers, error) {
	return connectViewersAs(ctx, url, n, pub, false, nil)
}

// connectViewersAs joins n viewers, light ones (light.go) on the address
// local if light, else full ones on loopback.
func connectViewersAs(ctx context.Context, url string, n int, pub *publisher, light bool, local net.IP) (*viewers, error) {
	vs := &viewers{pub: pub}
	api, err := whipclient.NewAPI(whipclient.Options{Light: true})
	if err != nil {
		return vs, err
	}
	if light {
		if vs.light, err = newLightNet(vs, n, local); err != nil {
			return vs, err
		}
	}
	sem := make(chan struct{}, 8)
	errs := make(chan error, n)
	var joins sync.WaitGroup
	for i := 0; i < n; i++ {
		joins.Add(1)
		sem <- struct{}{}
		api := api
		if light {
			api = vs.light.api(i)
		}
		go func() {
			defer joins.Done()
			defer func() { <-sem }()
			if err := vs.join(ctx, api, url); err != nil {
				errs <- err
			}
		}()
	}
	joins.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return vs, fmt.Errorf("viewer: %w", err)
	}
	return vs, nil
}

func (vs *viewers) join(ctx context.Context, api *webrtc.API, url string) error {
	return vs.joinWith(ctx, api, url, whipclient.Options{})
}

func (vs *viewers) joinWith(ctx context.Context, api *webrtc.API, url string, o whipclient.Options) error {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	vs.mu.Lock()
	vs.pcs = append(vs.pcs, pc)
	vs.mu.Unlock()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return err
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		k := 0
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			k = 1
		}
		vs.wg.Add(1)
		if vs.light != nil {
			go vs.light.readSample(tr)
			return
		}
		go vs.read(tr, k)
	})
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	if _, err := whipclient.Offer(ctx, url, pc, o); err != nil {
		return err
	}
	if vs.light != nil {
		vs.light.learn(pc)
	}
	select {
	case <-connected:
		return nil
	case <-time.After(20 * time.Second):
		return fmt.Errorf("not connected after 20 s (%s)", pc.ConnectionState())
	}
}

// read counts and times the packets of one track.
func (vs *viewers) read(tr *webrtc.TrackRemote, k int) {
	defer vs.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		sent := vs.pub.sendTime[k][binary.BigEndian.Uint16(buf[2:4])].Load()
		if vs.pub.window.contains(sent) {
			vs.received.Add(1)
			vs.hist.add(time.Duration(time.Now().UnixNano() - sent))
		}
	}
}

func (vs *viewers) windowReceived() uint64 { return vs.received.Load() }

func (vs *viewers) close() {
	vs.mu.Lock()
	pcs := vs.pcs
	vs.mu.Unlock()
	for _, pc := range pcs {
		_ = pc.Close()
	}
	if vs.light != nil {
		vs.light.close()
	}
	vs.wg.Wait()
}
