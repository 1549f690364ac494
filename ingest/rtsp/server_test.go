package rtsp

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/ingest"
)

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// A camera that goes silent (its connection open, no packets) is ended
// after the read timeout, with a log line; its stream lingers for a
// reconnect like any other publisher's.
func TestSilentCameraIsCleanedUp(t *testing.T) {
	reg := fanout.NewRegistry(fanout.RegistryParams{Linger: time.Minute})
	defer reg.Close()
	var logs logBuffer
	s, err := New(Params{Registry: reg, Gate: ingest.NewGate(ingest.GateParams{Registry: reg}), Addr: "127.0.0.1:0", ReadTimeout: time.Second, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	forma := &format.H264{PayloadTyp: 96, SPS: []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9}, PPS: []byte{0x68, 0xcb}, PacketizationMode: 1}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}}}
	tcp := gortsplib.ProtocolTCP
	c := gortsplib.Client{Protocol: &tcp}
	if err := c.StartRecording("rtsp://"+s.Addr().String()+"/cam", desc); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WritePacketRTP(desc.Medias[0], &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, Timestamp: 1, Marker: true}, Payload: []byte{0x65, 0x88}}); err != nil {
		t.Fatal(err)
	}
	st, ok := reg.Get("cam")
	if !ok || !st.Live() {
		t.Fatal("the camera's stream is not live")
	}
	for end := time.Now().Add(10 * time.Second); st.Live(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("a silent camera still holds its stream after 10 s")
		}
	}
	if !strings.Contains(logs.String(), "publisher left") {
		t.Fatalf("no log line for the silent camera:\n%s", logs.String())
	}
}
