package fanout

import (
	"errors"
	"testing"
	"time"
)

var vp8 = TrackParams{ID: "video", Kind: KindVideo, Codec: Codec{MimeType: "video/VP8", ClockRate: 90000}}

func TestSecondPublisherIsRefused(t *testing.T) {
	r := NewRegistry(RegistryParams{})
	defer r.Close()
	if _, err := r.Publish("s"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish("s"); !errors.Is(err, ErrStreamBusy) {
		t.Fatalf("second publish: %v, want ErrStreamBusy", err)
	}
}

func TestReconnectWithinLingerKeepsTracksAndSubscribers(t *testing.T) {
	r := NewRegistry(RegistryParams{Linger: time.Second})
	defer r.Close()
	p1, _ := r.Publish("s")
	tr := p1.Track(vp8)
	p1.Settle()
	sub, _ := tr.Subscribe(&collector{})
	p1.End()

	p2, err := r.Publish("s")
	if err != nil {
		t.Fatalf("republish during linger: %v", err)
	}
	if got := p2.Track(vp8); got != tr {
		t.Fatal("republish made a new track; viewers would be cut off")
	}
	p2.Settle()
	time.Sleep(1500 * time.Millisecond)
	select {
	case <-sub.Done():
		t.Fatal("subscriber ended although the publisher came back")
	default:
	}
}

func TestLingerExpiryEndsStreamAndSubscribers(t *testing.T) {
	ended := make(chan string, 1)
	r := NewRegistry(RegistryParams{Linger: 100 * time.Millisecond, OnStreamEnd: func(n string) { ended <- n }})
	defer r.Close()
	p, _ := r.Publish("s")
	sub, _ := p.Track(vp8).Subscribe(&collector{})
	p.End()
	select {
	case <-sub.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("subscriber still running after linger")
	}
	if _, ok := r.Get("s"); ok {
		t.Fatal("stream still registered after linger")
	}
	if n := <-ended; n != "s" {
		t.Fatalf("OnStreamEnd(%q)", n)
	}
}

func TestRepublishWithOtherCodecOrFewerTracksClosesOldTracks(t *testing.T) {
	r := NewRegistry(RegistryParams{})
	defer r.Close()
	p1, _ := r.Publish("s")
	v := p1.Track(vp8)
	a := p1.Track(TrackParams{ID: "audio", Kind: KindAudio, Codec: Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2}})
	p1.Settle()
	p1.End()

	p2, _ := r.Publish("s")
	h264 := vp8
	h264.Codec = Codec{MimeType: "video/H264", ClockRate: 90000, Fmtp: "packetization-mode=1"}
	if p2.Track(h264) == v {
		t.Fatal("codec change reused the old track")
	}
	p2.Settle()
	for name, tr := range map[string]*Track{"video": v, "audio": a} {
		select {
		case <-tr.Done():
		default:
			t.Fatalf("old %s track not closed", name)
		}
	}
	if n := len(p2.Stream().Tracks()); n != 1 {
		t.Fatalf("tracks = %d, want 1", n)
	}
}

func TestEndNowSkipsTheGrace(t *testing.T) {
	r := NewRegistry(RegistryParams{Linger: time.Hour})
	defer r.Close()
	p, _ := r.Publish("s")
	sub, _ := p.Track(vp8).Subscribe(&collector{})
	p.EndNow()
	select {
	case <-sub.Done():
	case <-time.After(time.Second):
		t.Fatal("subscriber still running after EndNow")
	}
	if _, ok := r.Get("s"); ok {
		t.Fatal("stream still registered after EndNow")
	}
}
