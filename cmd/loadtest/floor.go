package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"golang.org/x/net/ipv4"

	"github.com/relaymesh/relaymesh/internal/gso"
	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// The floor is what the viewers load costs a sender that does nothing but
// send: the same packets as the origin sends each viewer (the load's 720p30
// H.264 and Opus, packetized the same way, with the SRTP overhead), from
// one goroutine, to as many loopback sockets in this process: with sendto
// on one socket (as the origin's one UDP port does), with sendmmsg, and
// with a connected socket per receiver. No server can spend less CPU per
// viewer on this machine, so it tells how much of the origin's figure is
// the kernel's.

// floorPlan is what the sender child is told.
type floorPlan struct {
	Addrs []string
	Video [][]int // per frame, its packets' sizes
	Audio []int
	For   time.Duration
	Mode  string // sendto; sendmmsg, one call per frame for all receivers; connected, a connected socket per receiver; gso, a frame per receiver in one UDP_SEGMENT send (internal/gso)
}

// srtpOverhead is what SRTP adds to an RTP packet with AES-GCM (RFC 7714:
// a 16-byte tag); the RTP header is counted in the packet.
const srtpOverhead = 16

func runFloor(ctx context.Context, n int, d time.Duration) error {
	aus, opusPath, err := mediatest.Files(mediatest.HD)
	if err != nil {
		return err
	}
	frames, err := whipclient.AccessUnits(aus)
	if err != nil {
		return err
	}
	opus, err := whipclient.OpusPackets(opusPath)
	if err != nil {
		return err
	}
	plan := floorPlan{For: d}
	vp := rtp.NewPacketizer(1200, 102, 1, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	for _, f := range frames {
		var sizes []int
		for _, p := range vp.Packetize(f, 3000) {
			sizes = append(sizes, p.MarshalSize()+srtpOverhead)
		}
		plan.Video = append(plan.Video, sizes)
	}
	for _, o := range opus {
		plan.Audio = append(plan.Audio, 12+len(o)+srtpOverhead)
	}
	var got atomic.Uint64
	var wg sync.WaitGroup
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		conns = append(conns, c)
		plan.Addrs = append(plan.Addrs, c.LocalAddr().String())
		wg.Add(1)
		go func() { // a reader per socket, as each pion viewer has
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				got.Add(1)
			}
		}()
	}
	fmt.Println("receivers  mode       pps/receiver  sender_mcores  mcores/receiver")
	for _, mode := range []string{"sendto", "sendmmsg", "connected", "gso"} {
		plan.Mode = mode
		before := got.Load()
		cpu, err := floorChild(ctx, plan)
		if err != nil {
			return err
		}
		pps := float64(got.Load()-before) / d.Seconds() / float64(n)
		fmt.Printf("%9d  %-9s  %12.0f  %13.0f  %15.2f\n", n, mode, pps, cpu*1000/d.Seconds(), cpu*1000/d.Seconds()/float64(n))
	}
	return nil
}

// floorChild runs the sender in a child process (this binary again) and
// returns the CPU seconds it spent sending.
func floorChild(ctx context.Context, plan floorPlan) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp("", "relaymesh-floor-*.json")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	if err := json.NewEncoder(f).Encode(plan); err != nil {
		f.Close()
		return 0, err
	}
	f.Close()
	cmd := exec.CommandContext(ctx, self, "-floor-send", f.Name())
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("floor sender: %w", err)
	}
	var cpu float64
	if _, err := fmt.Sscan(string(out), &cpu); err != nil {
		return 0, fmt.Errorf("floor sender said %q", out)
	}
	return cpu, nil
}

// floorSend is the child: it sends plan's packets for plan.For and prints
// the CPU seconds that took (its own, from /proc).
func floorSend(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var plan floorPlan
	if err := json.Unmarshal(b, &plan); err != nil {
		return err
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer c.Close()
	var addrs []netip.AddrPort
	var uaddrs []*net.UDPAddr
	for _, a := range plan.Addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			return err
		}
		addrs, uaddrs = append(addrs, ap), append(uaddrs, net.UDPAddrFromAddrPort(ap))
	}
	pc := ipv4.NewPacketConn(c)
	var connected []*net.UDPConn
	if plan.Mode == "connected" {
		for _, a := range uaddrs {
			cc, err := net.DialUDP("udp4", nil, a)
			if err != nil {
				return err
			}
			defer cc.Close()
			connected = append(connected, cc)
		}
	}
	gc := gso.New(c, plan.Mode == "gso")
	if plan.Mode == "gso" && !gc.GSO() {
		return errors.New("UDP_SEGMENT is not supported here (Linux 4.18+)")
	}
	burst := &gso.Burst{}
	buf := make([]byte, 1500)
	var msgs []ipv4.Message
	send := func(sizes []int) {
		switch {
		case plan.Mode == "gso" && len(sizes) > 1:
			for _, a := range uaddrs {
				burst.To = a.AddrPort()
				for _, s := range sizes {
					burst.Add(buf[:s])
				}
				_ = gc.Send(burst)
			}
			return
		}
		switch plan.Mode {
		case "sendto":
			for _, a := range addrs {
				for _, s := range sizes {
					_, _ = c.WriteToUDPAddrPort(buf[:s], a)
				}
			}
			return
		case "connected":
			for _, cc := range connected {
				for _, s := range sizes {
					_, _ = cc.Write(buf[:s])
				}
			}
			return
		}
		msgs = msgs[:0]
		for _, a := range uaddrs {
			for _, s := range sizes {
				msgs = append(msgs, ipv4.Message{Buffers: [][]byte{buf[:s]}, Addr: a})
			}
		}
		for sent := 0; sent < len(msgs); {
			n, err := pc.WriteBatch(msgs[sent:min(sent+1024, len(msgs))], 0)
			if err != nil {
				n = max(n, 1)
			}
			sent += n
		}
	}
	start, err := cpuSeconds(os.Getpid())
	if err != nil {
		return err
	}
	video, audio := time.NewTicker(time.Second/30), time.NewTicker(20*time.Millisecond)
	defer video.Stop()
	defer audio.Stop()
	end := time.After(plan.For)
	for v, a := 0, 0; ; {
		select {
		case <-video.C:
			send(plan.Video[v%len(plan.Video)])
			v++
		case <-audio.C:
			send([]int{plan.Audio[a%len(plan.Audio)]})
			a++
		case <-end:
			stop, err := cpuSeconds(os.Getpid())
			if err != nil {
				return err
			}
			fmt.Println(stop - start)
			return nil
		}
	}
}
