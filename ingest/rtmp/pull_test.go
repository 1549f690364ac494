package rtmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest/transcode"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ffmpegServe makes ffmpeg an RTMP server (its listen mode) that serves
// testsrc2 H.264 with B-frames and a sine in AAC to the first player, for
// seconds.
func ffmpegServe(t *testing.T, url string, seconds int) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is needed (make test installs Debian's ffmpeg)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30", "-bf", "2",
		"-c:a", "aac", "-b:a", "96k", "-f", "flv", "-listen", "1", url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
}

// Pull plays a stream from a real RTMP server (ffmpeg's listen mode) and
// publishes it as a pushed stream would be: an H.264 track and, from AAC,
// an Opus track, both fed; the server's end of the stream ends Pull.
func TestPullFromFFmpeg(t *testing.T) {
	if !transcode.Available() {
		t.Fatal("this test needs AAC transcoding: build with -tags transcode (make test does)")
	}
	url := fmt.Sprintf("rtmp://127.0.0.1:%d/live/cam", freePort(t))
	ffmpegServe(t, url, 4)
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		var err error
		// ffmpeg needs a moment to listen; a loaded machine, several.
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
			pub, perr := reg.Publish("cam") // Pull ends its publication
			if perr != nil {
				done <- perr
				return
			}
			err = Pull(ctx, url, pub, PullParams{})
			if err == nil || !strings.Contains(err.Error(), "refused") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		done <- err
	}()
	var vc, ac counter
	var subs []*fanout.Subscriber
	deadline := time.Now().Add(20 * time.Second)
	for len(subs) < 2 && time.Now().Before(deadline) {
		var tr []*fanout.Track
		if s, ok := reg.Get("cam"); ok {
			tr = s.Tracks()
		}
		if len(tr) == 2 {
			if tr[0].Codec().MimeType != "video/H264" || tr[1].Codec().MimeType != "audio/opus" {
				t.Fatalf("tracks %v %v", tr[0].Codec(), tr[1].Codec())
			}
			v, _ := tr[0].Subscribe(&vc)
			a, _ := tr[1].Subscribe(&ac)
			subs = append(subs, v, a)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(subs) < 2 {
		t.Fatal("no video and audio tracks from the pulled stream")
	}
	for _, sub := range subs {
		defer sub.Close()
	}
	err := <-done
	if !errors.Is(err, ErrSourceEnded) {
		t.Fatalf("Pull ended with %v, want the end of the source", err)
	}
	if vc.n.Load() < 60 || ac.n.Load() < 100 {
		t.Fatalf("%d video and %d audio packets in about 3 s", vc.n.Load(), ac.n.Load())
	}
}

// Chunks of every header type, interleaved chunk streams, an extended
// timestamp and a chunk size change reassemble into the messages sent.
func TestChunkReader(t *testing.T) {
	var b []byte
	// Message 1 on chunk stream 4: type 0, 300 bytes in chunks of 128,
	// interleaved with a whole message on chunk stream 5.
	body1 := make([]byte, 300)
	for i := range body1 {
		body1[i] = byte(i)
	}
	b = append(b, 0x04, 0, 0, 100, 0, 1, 44, msgVideo, 1, 0, 0, 0) // ts 100, len 300, msid 1
	b = append(b, body1[:128]...)
	b = append(b, 0x05, 0xff, 0xff, 0xff, 0, 0, 2, msgAudio, 1, 0, 0, 0, 0x01, 0x00, 0x00, 0x00, 7, 8) // extended ts 16777216
	b = append(b, 0xc4)
	b = append(b, body1[128:256]...)
	b = append(b, 0xc4)
	b = append(b, body1[256:]...)
	// Message 3 on chunk stream 4: type 2 (delta 33, same length and type)
	// after a Set Chunk Size of 4096 carried on chunk stream 2.
	b = append(b, 0x02, 0, 0, 0, 0, 0, 4, msgSetChunkSize, 0, 0, 0, 0, 0, 0, 0x10, 0)
	b = append(b, 0x84, 0, 0, 33)
	b = append(b, body1...)
	// Message 4: type 3, a new message with the same delta.
	b = append(b, 0xc4)
	b = append(b, body1...)
	// A 2-byte basic header (chunk stream 64 + 10), type 0, empty body.
	b = append(b, 0x00, 10, 0, 0, 1, 0, 0, 0, msgDataAMF0, 0, 0, 0, 0)

	r := newChunkReader(bytes.NewReader(b))
	var got []rtmpMessage
	for {
		m, err := r.next()
		if err != nil {
			break
		}
		if m.typ == msgSetChunkSize {
			if err := r.setChunkSize(m.body); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, m)
	}
	want := []struct {
		typ  uint8
		ts   uint32
		size int
	}{{msgAudio, 1 << 24, 2}, {msgVideo, 100, 300}, {msgSetChunkSize, 0, 4}, {msgVideo, 133, 300}, {msgVideo, 166, 300}, {msgDataAMF0, 1, 0}}
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].typ != w.typ || got[i].ts != w.ts || len(got[i].body) != w.size {
			t.Errorf("message %d: type %d ts %d, %d bytes; want %+v", i, got[i].typ, got[i].ts, len(got[i].body), w)
		}
	}
	if !bytes.Equal(got[1].body, body1) || !bytes.Equal(got[4].body, body1) {
		t.Fatal("a reassembled body differs from what was sent")
	}
	if r.read != uint64(len(b)) {
		t.Fatalf("%d bytes counted for acknowledgements, %d read", r.read, len(b))
	}
}

// What a client writes reads back through the reader, whatever its size.
func TestAppendMessageRoundTrip(t *testing.T) {
	body := bytes.Repeat([]byte{1, 2, 3}, 3000)
	b := appendMessage(nil, 3, 4096, rtmpMessage{typ: msgCommandAMF0, ts: 5, msid: 7, body: body})
	r := newChunkReader(bytes.NewReader(b))
	r.size = 4096
	m, err := r.next()
	if err != nil || m.typ != msgCommandAMF0 || m.ts != 5 || m.msid != 7 || !bytes.Equal(m.body, body) {
		t.Fatalf("%+v %v", m.typ, err)
	}
}

// Bad URLs are refused with a sentence that says what an RTMP URL needs.
func TestPullBadURLs(t *testing.T) {
	for _, u := range []string{"rtmps://h/live/x", "rtmp://h/live", "rtmp:///live/x", "http://h/live/x"} {
		reg := fanout.NewRegistry(fanout.RegistryParams{})
		pub, _ := reg.Publish("x")
		if err := Pull(context.Background(), u, pub, PullParams{}); err == nil || !strings.Contains(err.Error(), "rtmp://") {
			t.Errorf("%s: %v", u, err)
		}
		reg.Close()
	}
	if tg, err := parsePullURL("rtmp://cdn.example/live/cam?token=1"); err != nil || tg.host != "cdn.example:1935" || tg.app != "live" || tg.stream != "cam?token=1" || tg.tcURL != "rtmp://cdn.example/live" {
		t.Fatalf("%+v %v", tg, err)
	}
}

// A server that accepts the connection and then says nothing ends the
// pull after the silence limit, with an error that names the step.
func TestPullSilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	reg := fanout.NewRegistry(fanout.RegistryParams{})
	defer reg.Close()
	pub, _ := reg.Publish("x")
	err = Pull(context.Background(), "rtmp://"+l.Addr().String()+"/live/x", pub, PullParams{Silence: 300 * time.Millisecond})
	if c, ok := <-accepted; ok {
		c.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("%v, want a failed handshake", err)
	}
}

// The chunk reader never panics nor allocates beyond its bounds, whatever
// the bytes.
func FuzzChunkReader(f *testing.F) {
	f.Add(appendMessage(nil, 3, 128, rtmpMessage{typ: msgVideo, ts: 1, body: bytes.Repeat([]byte{9}, 300)}))
	f.Add([]byte{0x04, 0xff, 0xff, 0xff, 0, 0, 2, msgAudio, 1, 0, 0, 0, 0, 0, 0, 1, 7, 8, 0xc4})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := newChunkReader(bytes.NewReader(b))
		for i := 0; i < 100; i++ {
			m, err := r.next()
			if err != nil {
				return
			}
			if m.typ == msgSetChunkSize {
				_ = r.setChunkSize(m.body)
			}
			_ = decodeCommand(m)
		}
	})
}
