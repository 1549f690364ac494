package ingest

import (
	"errors"
	"sync"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/relaymesh/relaymesh/fanout"
	"github.com/relaymesh/relaymesh/internal/rtc"
)

// Section is what a source decided for one received media section: the
// codec its fanout track carries and the keyframe requests the sender takes.
type Section struct {
	Codec    fanout.Codec
	PLI, FIR bool
	// ID, if set, is the track's id: a relay's link names each layer of a
	// simulcast source as its parent does. Otherwise tracks are numbered.
	ID string
}

// ChooseFunc decides a received section's codec. t is the section's
// transceiver (a source may set codec preferences on it); m is the section
// of the remote description that says what the sender offers or answered.
// Its error refuses the whole session.
type ChooseFunc func(t *webrtc.RTPTransceiver, m *sdp.MediaDescription) (Section, error)

// Legs connects the received tracks of one PeerConnection to fanout tracks:
// Bind makes a Leg per receiving section, and each remote track, when it
// arrives, is read into its Leg's track on a goroutine that wg counts.
type Legs struct {
	pc *webrtc.PeerConnection
	wg *sync.WaitGroup

	mu     sync.Mutex
	byRecv map[*webrtc.RTPReceiver]map[string]*Leg // by RID; "" without simulcast
}

// NewLegs installs pc's OnTrack handler; the read loops it starts are
// counted in wg, which the source's Close waits on.
func NewLegs(pc *webrtc.PeerConnection, wg *sync.WaitGroup) *Legs {
	ls := &Legs{pc: pc, wg: wg, byRecv: map[*webrtc.RTPReceiver]map[string]*Leg{}}
	pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		ls.mu.Lock()
		l := ls.byRecv[recv][remote.RID()]
		ls.mu.Unlock()
		if l == nil {
			return
		}
		wg.Add(1)
		go func() { defer wg.Done(); l.ReadLoop(remote) }()
	})
	return ls
}

// ErrNoMedia is returned when an offer sends or receives no audio or video.
var ErrNoMedia = errors.New("no audio or video is received")

// ErrCodec is returned when a media section has no codec the node takes.
var ErrCodec = errors.New("no usable codec")

// Bind makes the publication's tracks for every receiving section of the
// PeerConnection, described by desc (the remote description), and settles
// the publication. Tracks are named by kind, then numbered ("video",
// "video1", ...), the same on every node, so a relay's tracks match its
// origin's.
func (ls *Legs) Bind(desc *sdp.SessionDescription, pub *fanout.Publication, choose ChooseFunc) (int, error) {
	byMid := map[string]*sdp.MediaDescription{}
	for _, m := range desc.MediaDescriptions {
		if mid, ok := m.Attribute("mid"); ok && m.MediaName.Port.Value != 0 {
			byMid[mid] = m
		}
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ids := TrackIDs{}
	for _, t := range ls.pc.GetTransceivers() {
		m := byMid[t.Mid()]
		// A section answered inactive carries nothing: a link offers more
		// video sections than a stream without simulcast fills.
		if m == nil || t.Direction() != webrtc.RTPTransceiverDirectionRecvonly || rtc.Direction(m) == "inactive" {
			continue
		}
		sec, err := choose(t, m)
		if err != nil {
			return 0, err
		}
		kind := rtc.KindOf(t.Kind())
		id := sec.ID
		if id == "" {
			id = ids.Next(kind)
		}
		legs := map[string]*Leg{}
		// A simulcast section (RFC 8853) is a group of tracks, a layer per
		// RID the sender sends; pion reports each as a remote track of the
		// one receiver, with its RID.
		rids := rtc.SendRIDs(m)
		for _, rid := range rids {
			tid := id
			if len(rids) > 1 {
				tid = fanout.LayerID(id, rid)
			}
			tr := pub.Track(fanout.TrackParams{ID: tid, Kind: kind, Codec: sec.Codec})
			if tr == nil {
				return 0, errors.New("the stream ended while its tracks were being made")
			}
			l := &Leg{Track: tr, PC: ls.pc, PLI: sec.PLI, FIR: sec.FIR}
			tr.SetSource(l)
			legs[rid] = l
		}
		ls.byRecv[t.Receiver()] = legs
	}
	if len(ls.byRecv) == 0 {
		return 0, ErrNoMedia
	}
	pub.Settle()
	return len(ls.byRecv), nil
}
