package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// nackFlood: one viewer NACKs every packet of the last few seconds, about
// 61 KB/s of NACKs, while another viewer only watches. What the origin sends
// in all (relaymesh_bytes_out_total, RTP payload bytes, retransmissions
// included) less what the quiet viewer receives is what the flooder costs,
// as a multiple of the stream's rate. (The flooder's own count is no
// measure: SRTP replay protection drops the resent copies it already has.)
func nackFlood(ctx context.Context, start startFunc) error {
	origin, _, _, err := start()
	if err != nil {
		return err
	}
	defer origin.Kill()
	pub, err := newPublisher(ctx, origin.Base+"/whip/nack")
	if err != nil {
		return err
	}
	defer pub.close()
	defer pub.start(ctx)()
	time.Sleep(time.Second)
	quiet, err := joinCounting(ctx, origin.Base+"/whep/nack")
	if err != nil {
		return err
	}
	defer quiet.close()
	loud, err := joinCounting(ctx, origin.Base+"/whep/nack")
	if err != nil {
		return err
	}
	defer loud.close()
	time.Sleep(2 * time.Second)

	const seconds = 10
	out0, refused0 := metricSum(origin.Base, "relaymesh_bytes_out_total"), metricSum(origin.Base, "relaymesh_nacks_refused_total")
	q0 := quiet.bytes.Load()
	var nackBytes int
	deadline := time.Now().Add(seconds * time.Second)
	tick := time.NewTicker(time.Second / 60) // 60 NACK packets a second
	for time.Now().Before(deadline) {
		<-tick.C
		nk := loud.nackAll()
		if nk == nil {
			continue
		}
		b, _ := nk.Marshal()
		nackBytes += len(b)
		_ = loud.pc.WriteRTCP([]rtcp.Packet{nk})
	}
	tick.Stop()
	time.Sleep(500 * time.Millisecond)
	q := quiet.bytes.Load() - q0
	out, refused := metricSum(origin.Base, "relaymesh_bytes_out_total")-out0, metricSum(origin.Base, "relaymesh_nacks_refused_total")-refused0
	flooder := float64(out) - float64(q)
	fmt.Printf("abuse nack: %d s of %.0f KB/s of NACKs from one viewer: the origin sent it %.1f Mbit/s, %.1f× the stream's %.1f Mbit/s (a quiet viewer's share); %d retransmissions refused\n",
		seconds, float64(nackBytes)/seconds/1000, flooder*8/seconds/1e6, flooder/float64(max(q, 1)), float64(q)*8/seconds/1e6, refused)
	return nil
}

// countingViewer counts the bytes of RTP it receives and remembers the
// video's SSRC and newest sequence number, for NACKs.
type countingViewer struct {
	pc     *webrtc.PeerConnection
	bytes  atomic.Uint64
	ssrc   atomic.Uint32
	newest atomic.Uint32 // sequence number + 1; 0 before the first
	wg     sync.WaitGroup
}

func joinCounting(ctx context.Context, url string) (*countingViewer, error) {
	api, err := whipclient.NewAPI(whipclient.Options{Light: true})
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v := &countingViewer{pc: pc}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			v.close()
			return nil, err
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		video := tr.Kind() == webrtc.RTPCodecTypeVideo
		if video {
			v.ssrc.Store(uint32(tr.SSRC()))
		}
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				v.bytes.Add(uint64(len(p.Payload)))
				if video {
					v.newest.Store(uint32(p.SequenceNumber) + 1)
				}
			}
		}()
	})
	if _, err := whipclient.Offer(ctx, url, pc, whipclient.Options{}); err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

// nackAll asks again for every one of the last 4,250 video packets: 250
// pairs of a packet and the 16 after it, about 1 KB (pion marshals no more
// than about 250 pairs in one NACK).
func (v *countingViewer) nackAll() *rtcp.TransportLayerNack {
	n := v.newest.Load()
	if n == 0 {
		return nil
	}
	newest := uint16(n - 1)
	nk := &rtcp.TransportLayerNack{MediaSSRC: v.ssrc.Load()}
	for i := 0; i < 250; i++ {
		nk.Nacks = append(nk.Nacks, rtcp.NackPair{PacketID: newest - uint16(17*(250-i)), LostPackets: 0xffff})
	}
	return nk
}

func (v *countingViewer) close() {
	_ = v.pc.Close()
	v.wg.Wait()
}
