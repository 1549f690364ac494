package rtc

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// freeUDPPort is a port nothing listens on just now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// A viewer's frame written between Begin and End reaches a real pion peer
// as one burst, every packet in order, over the sockets of an engine on
// an unspecified address (one socket per interface, the Kubernetes
// default) and on a specific one.
func TestPeerBatchSendsAFrameAsOneBurst(t *testing.T) {
	for _, addr := range []string{fmt.Sprintf("0.0.0.0:%d", freeUDPPort(t)), "127.0.0.1:0"} {
		t.Run(addr, func(t *testing.T) {
			e, err := New(Params{UDPAddr: addr, GSO: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if !e.Batching() {
				t.Fatal("the engine does not batch on this kernel (UDP_SEGMENT is Linux 4.18+)")
			}
			frameThroughBatch(t, e)
		})
	}
}

func frameThroughBatch(t *testing.T, e *Engine) {
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	api, err := e.ViewerAPI(Timeouts{Disconnected: 5 * time.Second, Failed: 5 * time.Second, Keepalive: time.Second},
		[]ViewerCodec{{Kind: webrtc.RTPCodecTypeVideo, Codec: vp8}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	send, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	batch := e.Batch(send)
	track, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send.AddTrack(track); err != nil {
		t.Fatal(err)
	}

	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	recv, err := webrtc.NewAPI(webrtc.WithSettingEngine(s)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	if _, err := recv.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *rtp.Packet, 100)
	recv.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			got <- p
		}
	})
	negotiate(t, recv, send)
	waitConnected(t, send)

	const frame = 12
	seq := uint16(0)
	write := func(n int) {
		for i := range n {
			payload := make([]byte, 1100)
			payload[0] = byte(seq)
			if err := track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq), Marker: i == n-1}, Payload: payload}); err != nil {
				t.Fatal(err)
			}
			seq++
		}
	}
	// Until packets flow the receiver may drop some (DTLS up, SRTP keys
	// being set): write a few frames first, then the frame that counts.
	deadline := time.Now().Add(10 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		write(1)
		time.Sleep(20 * time.Millisecond)
	}
	for len(got) > 0 {
		<-got
	}
	bursts, datagrams := e.BatchStats()
	first := seq
	batch.Begin()
	write(frame)
	batch.End()
	for i := range frame {
		select {
		case p := <-got:
			if p.SequenceNumber != first+uint16(i) || len(p.Payload) != 1100 || p.Payload[0] != byte(first+uint16(i)) {
				t.Fatalf("packet %d of the frame: seq %d, %d bytes", i, p.SequenceNumber, len(p.Payload))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %d of the frame never arrived", i)
		}
	}
	b, d := e.BatchStats()
	if b-bursts < 1 || d-datagrams < frame || b-bursts > 2 {
		t.Fatalf("the frame went as %d bursts of %d datagrams; want one of %d (an RTCP packet may make a second)", b-bursts, d-datagrams, frame)
	}
}

// negotiate runs offer and answer between two in-process peers, with
// every candidate in the descriptions.
func negotiate(t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}

func waitConnected(t *testing.T, pc *webrtc.PeerConnection) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("not connected: %s", pc.ConnectionState())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
