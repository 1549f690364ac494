package rtc

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// sealCase is one packet sent: its SSRC, sequence number and payload size.
type sealCase struct {
	ssrc uint32
	seq  uint16
	size int
}

// sealSequence is a session's packets as an origin sends them: two SSRCs
// interleaved, one through two wraps of its sequence number, resends of
// packets from before a wrap after it and of packets from after it, a
// first packet far from zero, an empty payload (a padding-only packet
// carries its padding as payload), sizes up to a full datagram.
func sealSequence() []sealCase {
	var out []sealCase
	seq := uint16(65000)
	for i := range 140 {
		out = append(out, sealCase{1, seq, 1 + i*9})
		if i%3 == 0 {
			out = append(out, sealCase{2, uint16(40000 + i), 160})
		}
		if i%10 == 5 {
			// A NACK's answer: three and thirty packets back, across a
			// wrap when there was one.
			out = append(out, sealCase{1, seq - 3000, 1200}, sealCase{1, seq - 30000, 1200})
		}
		seq += 1000 // wraps every 66 packets
	}
	return append(out, sealCase{2, 39999, 0}, sealCase{1, seq + 20000, 1188})
}

// Every byte the node's AEAD sealer writes is the byte pion's SRTP
// context writes for the same packets from the same master key and salt:
// the key derivation (RFC 3711 §4.3), the IV (RFC 7714 §8.1), the header
// as associated data, and the rollover counter through wraps and resends
// (RFC 3711 §3.3.1). pion's receiving context then authenticates them.
func TestGCMSealerIsPionsSRTP(t *testing.T) {
	for _, tc := range []struct {
		profile srtp.ProtectionProfile
		keyLen  int
	}{
		{srtp.ProtectionProfileAeadAes128Gcm, 16},
		{srtp.ProtectionProfileAeadAes256Gcm, 32},
	} {
		t.Run(tc.profile.String(), func(t *testing.T) {
			key, salt := make([]byte, tc.keyLen), make([]byte, 12)
			_, _ = rand.Read(key)
			_, _ = rand.Read(salt)
			own, err := newSealer(key, salt, tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := own.(*gcmSealer); !ok {
				t.Fatalf("%s sealed by %T; want the node's own", tc.profile, own)
			}
			ref, err := srtp.CreateContext(key, salt, tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := srtp.CreateContext(key, salt, tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			room := make([]byte, 1500)
			for i, c := range sealSequence() {
				h := rtp.Header{Version: 2, PayloadType: 96, SSRC: c.ssrc, SequenceNumber: c.seq, Timestamp: uint32(i) * 3000, Marker: i%4 == 0}
				if i%7 == 0 {
					h.CSRC = []uint32{0xdecafbad}
					if err := h.SetExtension(1, []byte{byte(i)}); err != nil {
						t.Fatal(err)
					}
				}
				payload := bytes.Repeat([]byte{byte(i)}, c.size)
				plain, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				want, err := ref.EncryptRTP(nil, plain, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := own.seal(room, &h, payload)
				if err != nil {
					t.Fatalf("packet %d (ssrc %d seq %d): %v", i, c.ssrc, c.seq, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("packet %d (ssrc %d seq %d): sealed bytes differ from pion's", i, c.ssrc, c.seq)
				}
				if _, err := dec.DecryptRTP(nil, got, nil); err != nil {
					t.Fatalf("packet %d (ssrc %d seq %d): pion does not authenticate it: %v", i, c.ssrc, c.seq, err)
				}
			}
		})
	}
}

// A sealer refuses the packet that would wrap the rollover counter (its IV
// would repeat one already used, RFC 3711 §9.2) and seals nothing after
// allocating nothing for the packets before.
func TestGCMSealerNeverReusesAnIV(t *testing.T) {
	s, err := newGCMSealer(make([]byte, 16), make([]byte, 12))
	if err != nil {
		t.Fatal(err)
	}
	room := make([]byte, 1500)
	payload := make([]byte, 1000)
	h := rtp.Header{Version: 2, SSRC: 9, SequenceNumber: 65530}
	if _, err := s.seal(room, &h, payload); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		h.SequenceNumber++
		if _, err := s.seal(room, &h, payload); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations a packet; want none", n)
	}
	s.ssrcs[0].index = maxIndex - 2 // ROC 2^32 - 1, seq 65533
	for _, seq := range []uint16{65534, 65535} {
		h.SequenceNumber = seq
		if _, err := s.seal(room, &h, payload); err != nil {
			t.Fatalf("seq %d, the last ROC: %v", seq, err)
		}
	}
	h.SequenceNumber = 0
	if _, err := s.seal(room, &h, payload); !errors.Is(err, errIndexExhausted) {
		t.Fatalf("the packet past index 2^48 - 1: %v; want %v", err, errIndexExhausted)
	}
}

// The AES-CM/HMAC profiles stay with pion's context; a bad key is an
// error, not a sealer.
func TestNewSealerByProfile(t *testing.T) {
	s, err := newSealer(make([]byte, 16), make([]byte, 14), srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*pionSealer); !ok {
		t.Fatalf("AES-CM/HMAC sealed by %T; want pion's context", s)
	}
	for _, bad := range []struct{ key, salt int }{{15, 12}, {16, 14}} {
		if _, err := newSealer(make([]byte, bad.key), make([]byte, bad.salt), srtp.ProtectionProfileAeadAes128Gcm); err == nil {
			t.Fatalf("a %d-byte key and %d-byte salt made a sealer", bad.key, bad.salt)
		}
	}
}

// namedSealer is a sealer a benchmark compares.
type namedSealer struct {
	name string
	s    sealer
}

// benchSealers are AES-128-GCM sealers of one key: "gcm" the node's own,
// "pion-gcm" pion's SRTP context.
func benchSealers(b *testing.B) []namedSealer {
	key, salt := make([]byte, 16), make([]byte, 12)
	own, err := newSealer(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		b.Fatal(err)
	}
	ctx, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		b.Fatal(err)
	}
	return []namedSealer{{"gcm", own}, {"pion-gcm", &pionSealer{ctx: ctx}}}
}

// A 1,200-byte packet sealed by the node's sealer and by pion's context.
func BenchmarkSeal(b *testing.B) {
	for _, s := range benchSealers(b) {
		b.Run(s.name, func(b *testing.B) {
			room := make([]byte, 1500)
			payload := make([]byte, 1188)
			h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}
			b.ReportAllocs()
			b.SetBytes(1200)
			for b.Loop() {
				h.SequenceNumber++
				if _, err := s.s.seal(room, &h, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
