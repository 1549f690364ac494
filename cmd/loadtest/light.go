package main

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// Light viewers (-light) do ICE and DTLS as pion peers do, and then count
// each SRTP packet from its cleartext RTP header (RFC 3711 §3.1 encrypts
// the payload only) as it comes off the socket, without decrypting it:
// sequence number and payload type give the packet and its send time,
// the read its arrival. One packet in sampleEvery goes on to pion, which
// decrypts and authenticates it, so a corrupt stream still shows. Full
// viewers cost the load machine about as much CPU as the server spends on
// them, which hid everything past ~300 viewers on two cores; these read
// up to readBatch datagrams per system call and nothing else.
const sampleEvery = 16

// readBatch is how many datagrams one read takes: a frame's burst.
const readBatch = 16

// lightNet is the light viewers' sockets and counts: a socket and a pion
// ICE mux each, since a mux tells its peers apart by their remote address
// once connected, and every viewer's is the server's one port.
type lightNet struct {
	vs      *viewers
	conns   []*lightConn
	apis    []*webrtc.API
	ptKind  [128]atomic.Int32 // payload type → 1 video, 2 audio, 0 unknown
	sampled atomic.Uint64     // packets handed to pion to decrypt
	decrypt atomic.Uint64     // of those, the ones pion decrypted
}

func newLightNet(vs *viewers, n int, local net.IP) (*lightNet, error) {
	ln := &lightNet{vs: vs}
	for range n {
		udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: local})
		if err != nil {
			ln.close()
			return nil, err
		}
		bigReceiveBuffer(udp)
		c := &lightConn{UDPConn: udp, batch: ipv4.NewPacketConn(udp), ln: ln, msgs: make([]ipv4.Message, readBatch)}
		for i := range c.msgs {
			c.msgs[i].Buffers = [][]byte{make([]byte, 1500)}
		}
		ln.conns = append(ln.conns, c)
		var se webrtc.SettingEngine
		se.SetICEUDPMux(ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: c}))
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetIncludeLoopbackCandidate(true)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		api, err := whipclient.NewAPI(whipclient.Options{Light: true, Settings: &se})
		if err != nil {
			ln.close()
			return nil, err
		}
		ln.apis = append(ln.apis, api)
	}
	return ln, nil
}

// bigReceiveBuffer asks for 1 MB of socket receive buffer (past
// rmem_max when root may), so a burst is not lost to the tool's queue.
func bigReceiveBuffer(c *net.UDPConn) {
	_ = c.SetReadBuffer(1 << 20)
	if raw, err := c.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20)
		})
	}
}

// api is the i-th viewer's API: its socket's.
func (ln *lightNet) api(i int) *webrtc.API { return ln.apis[i] }

// learn records the payload types a negotiated viewer receives.
func (ln *lightNet) learn(pc *webrtc.PeerConnection) {
	for _, tr := range pc.GetTransceivers() {
		k := int32(1)
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			k = 2
		}
		for _, c := range tr.Receiver().GetParameters().Codecs {
			ln.ptKind[c.PayloadType&0x7f].Store(k)
		}
	}
}

// readSample counts what pion decrypted of the samples on one track.
func (ln *lightNet) readSample(tr *webrtc.TrackRemote) {
	defer ln.vs.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := tr.Read(buf); err != nil {
			return
		}
		ln.decrypt.Add(1)
	}
}

func (ln *lightNet) close() {
	for _, c := range ln.conns {
		_ = c.Close()
	}
}

// lightConn is a light viewers' socket under pion's ICE mux. The mux's
// one reader goroutine calls ReadFrom: STUN, DTLS, RTCP and the sampled
// SRTP packets go up to pion, the rest are counted here.
type lightConn struct {
	*net.UDPConn
	batch *ipv4.PacketConn
	ln    *lightNet

	msgs    []ipv4.Message // the reader's only, as is the rest
	n, next int
	at      int64 // when the batch was read
	media   int
}

// ReadFrom shadows the socket's.
func (c *lightConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		if c.next >= c.n {
			n, err := c.batch.ReadBatch(c.msgs, 0)
			if err != nil {
				return 0, nil, err
			}
			c.n, c.next, c.at = n, 0, time.Now().UnixNano()
		}
		m := &c.msgs[c.next]
		c.next++
		d := m.Buffers[0][:m.N]
		if srtp(d) {
			c.count(d)
			if c.media++; c.media%sampleEvery != 0 {
				continue
			}
			c.ln.sampled.Add(1)
		}
		return copy(b, d), m.Addr, nil
	}
}

// srtp reports whether d is an RTP packet and not RTCP (RFC 5761 §4: RTCP
// packet types 192-223 sit where RTP's marker bit and payload type are).
func srtp(d []byte) bool {
	if len(d) < 12 || d[0]>>6 != 2 {
		return false
	}
	pt := d[1] & 0x7f
	return pt < 64 || pt > 95
}

// count matches a packet to its send time by kind and sequence number.
func (c *lightConn) count(d []byte) {
	k := c.ln.ptKind[d[1]&0x7f].Load()
	if k == 0 {
		return
	}
	vs := c.ln.vs
	sent := vs.pub.sendTime[k-1][binary.BigEndian.Uint16(d[2:4])].Load()
	if vs.pub.window.contains(sent) {
		vs.received.Add(1)
		vs.hist.add(time.Duration(c.at - sent))
	}
}
