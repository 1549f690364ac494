package rtc

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
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
// as one burst, every packet in order and decrypted, over the sockets of
// an engine on an unspecified address (one socket per interface, the
// Kubernetes default) and on a specific one: sent by the viewer's Egress
// (with either SRTP profile a peer may choose), and by pion where the
// Egress cannot take over (the node is the DTLS client) or is not used.
func TestPeerBatchSendsAFrameAsOneBurst(t *testing.T) {
	for _, addr := range []string{fmt.Sprintf("0.0.0.0:%d", freeUDPPort(t)), "127.0.0.1:0"} {
		for _, c := range []batchCase{
			{name: "egress-gcm", egress: true},
			{name: "egress-cm", egress: true, profiles: []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_80}},
			{name: "egress-gcm256", egress: true, profiles: []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_256_GCM}},
			// The keys are derived with the suite's PRF hash (srtpkeys.go).
			{name: "egress-sha384-suite", egress: true, suites: []dtls.CipherSuiteID{dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}},
			{name: "pion-when-node-is-dtls-client", egress: true, peerServer: true},
			{name: "pion"},
		} {
			t.Run(addr+"/"+c.name, func(t *testing.T) {
				e, err := New(Params{UDPAddr: addr, GSO: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				if !e.Batching() {
					t.Fatal("the engine does not batch on this kernel (UDP_SEGMENT is Linux 4.18+)")
				}
				frameThroughBatch(t, e, c)
			})
		}
	}
}

type batchCase struct {
	name       string
	egress     bool                         // the track writes through the Egress
	profiles   []dtls.SRTPProtectionProfile // the only ones the peer offers
	suites     []dtls.CipherSuiteID         // the only DTLS suites it offers
	peerServer bool                         // the peer offers a=setup:passive
}

// egressTrack is a TrackLocal that writes as a viewer's legs do, through
// the Egress's writer when it has one.
type egressTrack struct {
	eg   *Egress
	ws   atomic.Value // webrtc.TrackLocalWriter
	ssrc atomic.Uint32
	pt   atomic.Uint32
}

func (t *egressTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	c := ctx.CodecParameters()[0]
	t.ssrc.Store(uint32(ctx.SSRC()))
	t.pt.Store(uint32(c.PayloadType))
	t.ws.Store(t.eg.Writer(ctx.WriteStream()))
	return c, nil
}
func (*egressTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (*egressTrack) ID() string                            { return "video" }
func (*egressTrack) RID() string                           { return "" }
func (*egressTrack) StreamID() string                      { return "s" }
func (*egressTrack) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeVideo }

func (t *egressTrack) WriteRTP(p *rtp.Packet) error {
	ws, _ := t.ws.Load().(webrtc.TrackLocalWriter)
	if ws == nil {
		return nil
	}
	p.SSRC, p.PayloadType = t.ssrc.Load(), uint8(t.pt.Load())
	_, err := ws.WriteRTP(&p.Header, p.Payload)
	return err
}

func frameThroughBatch(t *testing.T, e *Engine, c batchCase) {
	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	if c.profiles != nil {
		s.SetSRTPProtectionProfiles(c.profiles...)
	}
	if c.suites != nil {
		s.SetDTLSCipherSuites(c.suites...)
	}
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
	offer := localDescription(t, recv, func() (webrtc.SessionDescription, error) { return recv.CreateOffer(nil) })
	if c.peerServer {
		offer.SDP = strings.ReplaceAll(offer.SDP, "a=setup:actpass", "a=setup:passive")
	}
	parsed, err := offer.Unmarshal()
	if err != nil {
		t.Fatal(err)
	}

	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	api, eg, err := e.ViewerAPI(Timeouts{Disconnected: 5 * time.Second, Failed: 5 * time.Second, Keepalive: time.Second},
		[]ViewerCodec{{Kind: webrtc.RTPCodecTypeVideo, Codec: vp8}}, nil, parsed)
	if err != nil {
		t.Fatal(err)
	}
	if (eg != nil) == c.peerServer {
		t.Fatalf("Egress made: %v, for an offer that lets the node be the DTLS server: %v", eg != nil, !c.peerServer)
	}
	send, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	track := &egressTrack{}
	if c.egress {
		track.eg = eg
	}
	batch := e.Batch(send, track.eg)
	defer batch.Close()
	if _, err := send.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	if err := send.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	if err := recv.SetRemoteDescription(localDescription(t, send, func() (webrtc.SessionDescription, error) { return send.CreateAnswer(nil) })); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, send)

	const frame = 12
	seq := uint16(65530) // the frame crosses a rollover (RFC 3711 §3.3.1)
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
	if want := c.egress && !c.peerServer; track.eg.Egressing() != want {
		t.Fatalf("the Egress sends the session: %v; want %v", track.eg.Egressing(), want)
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
	// A packet written outside a burst (a NACK's answer) goes at once.
	write(1)
	select {
	case p := <-got:
		if p.SequenceNumber != first+frame {
			t.Fatalf("the packet after the frame: seq %d, want %d", p.SequenceNumber, first+frame)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a packet written outside a burst never arrived")
	}
}

// localDescription makes pc's offer or answer with create, sets it and
// returns it once every candidate is in it.
func localDescription(t *testing.T, pc *webrtc.PeerConnection, create func() (webrtc.SessionDescription, error)) webrtc.SessionDescription {
	t.Helper()
	d, err := create()
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		t.Fatal(err)
	}
	<-done
	return *pc.LocalDescription()
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
