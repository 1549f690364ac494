package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/sirupsen/logrus"
	gortmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/relaymesh/relaymesh/internal/mediatest"
	"github.com/relaymesh/relaymesh/internal/nodeproc"
	"github.com/relaymesh/relaymesh/internal/whipclient"
)

// runIngest measures what RTMP ingest adds: the latency from the moment a
// publisher sends a frame (pre-encoded: the encoder is not counted) to the
// moment a WHEP viewer receives its first packet, and the origin's CPU per
// ingested RTMP stream with and without AAC-to-Opus transcoding.
func runIngest(ctx context.Context, p runParams, streams int) error {
	logs, err := os.MkdirTemp("", "relaymesh-ingest-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logs)
	h264, _, err := mediatest.Files(mediatest.HD)
	if err != nil {
		return err
	}
	aus, err := whipclient.AccessUnits(h264)
	if err != nil {
		return err
	}
	asc, aac, err := mediatest.AAC(mediatest.Spec{Seconds: 10})
	if err != nil {
		return err
	}
	rtmpPort, rtspPort := freePort(), freePort()
	origin, err := nodeproc.Start(ctx, p.origin, "origin", nodeproc.Options{LogDir: logs,
		Args: []string{"-rtmp", "127.0.0.1:" + strconv.Itoa(rtmpPort), "-rtsp", "127.0.0.1:" + strconv.Itoa(rtspPort), "-rtsp-udp", "", "-log-level", "warn"}})
	if err != nil {
		return err
	}
	defer origin.Kill()
	addr := "127.0.0.1:" + strconv.Itoa(rtmpPort)

	// Latency: one stream, one viewer, frames matched by RTP timestamp.
	rtmpPub := func(ctx context.Context, sent *sendLog) error {
		return publishRTMP(ctx, addr, "latrtmp", aus, asc, aac, sent)
	}
	rtspPub := func(ctx context.Context, sent *sendLog) error {
		return publishRTSP(ctx, "rtsp://127.0.0.1:"+strconv.Itoa(rtspPort)+"/latrtsp", aus, sent)
	}
	for _, c := range []struct {
		name, stream string
		pub          func(context.Context, *sendLog) error
	}{{"RTMP -> WebRTC, 720p30 2 Mbit/s H.264 + AAC", "latrtmp", rtmpPub}, {"RTSP -> WebRTC, 720p30 2 Mbit/s H.264", "latrtsp", rtspPub}} {
		p50, p99, n, err := ingestLatency(ctx, origin.Base+"/whep/"+c.stream, p.duration, c.pub)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Printf("%s: %d frames, added latency p50 %.2f ms, p99 %.2f ms (send to first packet at a WHEP viewer)\n", c.name, n, p50, p99)
	}

	// CPU per ingested stream, with and without audio.
	for _, audio := range []bool{false, true} {
		cpu, err := ingestCPU(ctx, origin, addr, streams, p.duration, aus, asc, aac, audio)
		if err != nil {
			return err
		}
		what := "H.264 only"
		if audio {
			what = "H.264 + AAC transcoded to Opus"
		}
		fmt.Printf("origin CPU per ingested RTMP stream (%d streams, %s): %.1f mcores\n", streams, what, cpu/float64(streams))
	}
	return nil
}

// ingestLatency runs pub, watches url, and returns the p50 and p99 of
// the time from each frame's sending to its first packet's arrival.
func ingestLatency(ctx context.Context, url string, d time.Duration, pub func(context.Context, *sendLog) error) (p50, p99 float64, n int, err error) {
	sent := &sendLog{at: map[uint32]time.Time{}}
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := pub(pctx, sent); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest: publisher:", err)
		}
	}()
	defer func() { stop(); wg.Wait(); time.Sleep(1500 * time.Millisecond) }()
	var w *whipclient.Watcher
	for try := 0; w == nil; try++ {
		time.Sleep(500 * time.Millisecond)
		if w, err = whipclient.Watch(ctx, url, whipclient.Options{Light: true}); err != nil && try == 10 {
			return 0, 0, 0, fmt.Errorf("viewer: %w", err)
		}
	}
	time.Sleep(d)
	w.Close()
	var lat []time.Duration
	seen := map[uint32]bool{}
	for _, a := range w.Video() {
		if seen[a.TS] {
			continue
		}
		seen[a.TS] = true
		if at, ok := sent.get(a.TS); ok {
			lat = append(lat, a.At.Sub(at))
		}
	}
	if len(lat) < 10 {
		return 0, 0, 0, fmt.Errorf("only %d frames matched", len(lat))
	}
	slices.Sort(lat)
	q := func(f float64) float64 {
		return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))].Microseconds()) / 1000
	}
	return q(0.5), q(0.99), len(lat), nil
}

// publishRTSP records the access units (30 fps) to url as an RTSP encoder
// would (ANNOUNCE/RECORD over TCP), until ctx ends.
func publishRTSP(ctx context.Context, url string, aus [][]byte, sent *sendLog) error {
	sps, pps := paramSets(aus[0])
	forma := &format.H264{PayloadTyp: 96, SPS: sps, PPS: pps, PacketizationMode: 1}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}}}
	tcp := gortsplib.ProtocolTCP
	c := gortsplib.Client{Protocol: &tcp}
	if err := c.StartRecording(url, desc); err != nil {
		return err
	}
	defer c.Close()
	enc, err := forma.CreateEncoder()
	if err != nil {
		return err
	}
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for frame := 0; ; {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for time.Duration(frame)*time.Second/30 <= time.Since(start) {
			pkts, err := enc.Encode(nalus(aus[frame%len(aus)]))
			if err != nil {
				return err
			}
			ts := uint32(frame * 3000)
			sent.put(ts, time.Now())
			for _, p := range pkts {
				p.Timestamp = ts
				if err := c.WritePacketRTP(desc.Medias[0], p); err != nil {
					return err
				}
			}
			frame++
		}
	}
}

// ingestCPU publishes n streams for d and returns the origin's CPU in
// milli-cores over that time.
func ingestCPU(ctx context.Context, origin *nodeproc.Proc, addr string, n int, d time.Duration, aus [][]byte, asc []byte, aac [][]byte, audio bool) (float64, error) {
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a [][]byte
			if audio {
				a = aac
			}
			_ = publishRTMP(pctx, addr, fmt.Sprintf("cpu%v%d", audio, i), aus, asc, a, nil)
		}()
	}
	time.Sleep(2 * time.Second) // all streams up
	c0, _ := cpuSeconds(origin.PID)
	t0 := time.Now()
	time.Sleep(d)
	c1, _ := cpuSeconds(origin.PID)
	wall := time.Since(t0)
	stop()
	wg.Wait()
	time.Sleep(time.Second)
	return (c1 - c0) / wall.Seconds() * 1000, nil
}

// sendLog is when each frame (by RTP timestamp) left the publisher.
type sendLog struct {
	mu sync.Mutex
	at map[uint32]time.Time
}

func (s *sendLog) put(ts uint32, t time.Time) {
	s.mu.Lock()
	s.at[ts] = t
	s.mu.Unlock()
}

func (s *sendLog) get(ts uint32) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[ts]
	return t, ok
}

// publishRTMP plays the access units (30 fps) and AAC frames (1024 samples
// at 44.1 kHz) as an RTMP encoder would, until ctx ends.
func publishRTMP(ctx context.Context, addr, name string, aus [][]byte, asc []byte, aac [][]byte, sent *sendLog) error {
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	c, err := gortmp.Dial("rtmp", addr, &gortmp.ConnConfig{Logger: quiet})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Connect(&rtmpmsg.NetConnectionConnect{Command: rtmpmsg.NetConnectionConnectCommand{App: "live", Type: "nonprivate", TCURL: "rtmp://" + addr + "/live"}}); err != nil {
		return err
	}
	s, err := c.CreateStream(nil, 60000)
	if err != nil {
		return err
	}
	if err := s.Publish(&rtmpmsg.NetStreamPublish{PublishingName: name, PublishingType: "live"}); err != nil {
		return err
	}
	sps, pps := paramSets(aus[0])
	rec := append([]byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1}, binary.BigEndian.AppendUint16(nil, uint16(len(sps)))...)
	rec = append(append(rec, sps...), 1)
	rec = append(append(rec, binary.BigEndian.AppendUint16(nil, uint16(len(pps)))...), pps...)
	if err := s.Write(6, 0, &rtmpmsg.VideoMessage{Payload: bytes.NewReader(append([]byte{0x17, 0, 0, 0, 0}, rec...))}); err != nil {
		return err
	}
	if aac != nil {
		if err := s.Write(4, 0, &rtmpmsg.AudioMessage{Payload: bytes.NewReader(append([]byte{0xaf, 0}, asc...))}); err != nil {
			return err
		}
	}
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	frame, sample := 0, 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		el := time.Since(start)
		for aac != nil && time.Duration(sample)*time.Second/44100 <= el {
			ms := uint32(sample * 1000 / 44100)
			au := aac[(sample/1024)%len(aac)]
			if err := s.Write(4, ms, &rtmpmsg.AudioMessage{Payload: bytes.NewReader(append([]byte{0xaf, 1}, au...))}); err != nil {
				return err
			}
			sample += 1024
		}
		for time.Duration(frame)*time.Second/30 <= el {
			ms := uint32(frame * 1000 / 30)
			au := aus[frame%len(aus)]
			head := byte(0x27)
			if isIDR(au) {
				head = 0x17
			}
			if sent != nil {
				sent.put(ms*90, time.Now())
			}
			if err := s.Write(6, ms, &rtmpmsg.VideoMessage{Payload: bytes.NewReader(append([]byte{head, 1, 0, 0, 0}, avcc(au)...))}); err != nil {
				return err
			}
			frame++
		}
	}
}

// nalus splits an Annex-B access unit (empty when it is not one).
func nalus(au []byte) [][]byte {
	var n h264.AnnexB
	if err := n.Unmarshal(au); err != nil {
		return nil
	}
	return n
}

func avcc(au []byte) []byte {
	var b []byte
	for _, n := range nalus(au) {
		b = append(binary.BigEndian.AppendUint32(b, uint32(len(n))), n...)
	}
	return b
}

func paramSets(au []byte) (sps, pps []byte) {
	for _, n := range nalus(au) {
		switch n[0] & 0x1f {
		case 7:
			sps = n
		case 8:
			pps = n
		}
	}
	return sps, pps
}

func isIDR(au []byte) bool {
	for _, n := range nalus(au) {
		if n[0]&0x1f == 5 {
			return true
		}
	}
	return false
}

func freePort() int {
	p, err := nodeproc.FreePort()
	if err != nil {
		return 19350
	}
	return p
}
