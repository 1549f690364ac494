package fanout

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// reentrant is a subscriber whose WritePacket reads its stream, as a
// recorder or an API handler on a writer's goroutine may: it must not
// deadlock against a publisher that closes the track meanwhile.
type reentrant struct {
	s       *Stream
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

// WritePacket holds the first packet until released. It waits to say it
// has entered: a send that gave up when the test was not yet receiving
// (select with default) lost the signal whenever the subscriber's
// goroutine got there first, and the test hung (1 run in a few hundred).
func (w *reentrant) WritePacket(*Packet) error {
	w.once.Do(func() {
		w.entered <- struct{}{}
		<-w.release
		_ = w.s.Tracks()
	})
	return nil
}

// A publisher that comes back without a track closes the old one; closing
// waits for the track's subscriber goroutines, so it must not hold the
// stream's lock while it waits.
func TestSettleClosesStaleTracksOutsideTheStreamLock(t *testing.T) {
	r := NewRegistry(RegistryParams{Linger: time.Minute})
	defer r.Close()
	p1, _ := r.Publish("s")
	tr := p1.Track(vp8)
	p1.Settle()
	w := &reentrant{s: p1.Stream(), entered: make(chan struct{}), release: make(chan struct{})}
	if _, err := tr.Subscribe(w); err != nil {
		t.Fatal(err)
	}
	tr.Write(&Packet{Header: rtp.Header{SequenceNumber: 1}, Payload: []byte{0x10, 0}})
	<-w.entered
	p1.End()

	p2, err := r.Publish("s")
	if err != nil {
		t.Fatal(err)
	}
	settled := make(chan struct{})
	go func() { p2.Settle(); close(settled) }() // claims nothing: the video track goes
	time.Sleep(100 * time.Millisecond)          // Settle is closing the track
	close(w.release)
	select {
	case <-settled:
	case <-time.After(5 * time.Second):
		t.Fatal("Settle deadlocked: it waited for a subscriber while holding the stream's lock")
	}
}
