package rtc

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// sealer encrypts an outgoing RTP packet into room (which has space for
// the header, the payload and the tag): the header marshalled in clear,
// the payload sealed behind it. The result is a prefix of room. One
// sealer is one SRTP context: a session's packets go through it in the
// order they are sent (the rollover counters follow them).
type sealer interface {
	seal(room []byte, h *rtp.Header, payload []byte) ([]byte, error)
}

// newSealer is the sealer for the session keys of profile: the node's
// own for the AEAD profiles (RFC 7714), pion's SRTP context for the
// others.
func newSealer(key, salt []byte, profile srtp.ProtectionProfile) (sealer, error) {
	switch profile {
	case srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm:
		return newGCMSealer(key, salt)
	}
	c, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		return nil, err
	}
	return &pionSealer{ctx: c}, nil
}

// pionSealer seals with pion's SRTP context (the AES-CM/HMAC-SHA1
// profiles).
type pionSealer struct {
	ctx *srtp.Context
	hdr rtp.Header // EncryptRTP's scratch
}

func (s *pionSealer) seal(room []byte, h *rtp.Header, payload []byte) ([]byte, error) {
	hl, err := h.MarshalTo(room)
	if err != nil {
		return nil, err
	}
	n := hl + copy(room[hl:], payload)
	out, err := s.ctx.EncryptRTP(room, room[:n], &s.hdr)
	if err != nil {
		return nil, err
	}
	if &out[0] != &room[0] {
		// srtp grows a buffer too small for the tag; room never is.
		n = copy(room, out)
		out = room[:n]
	}
	return out, nil
}

// gcmSealer is SRTP's AEAD_AES_128_GCM and AEAD_AES_256_GCM (RFC 7714)
// for a sender. pion's context does the same work around the cipher: it
// parses again the header just marshalled, looks the SSRC up in a map,
// and seals a copy of the payload. On a busy origin that wrapping cost as
// much as AES-GCM itself; here the payload is sealed from where it lies
// into the viewer's burst, and a session's few SSRCs are a short list.
// seal_test.go checks every byte against pion's context.
type gcmSealer struct {
	aead  cipher.AEAD
	salt  [12]byte // the session salt (RFC 7714 §8.1)
	iv    [12]byte // a packet's; here, since a nonce given to the AEAD escapes
	ssrcs []sentIndex
}

// sentIndex is what a sender keeps of one SSRC: the highest packet index
// it sent, i = 2^16 * ROC + SEQ (RFC 3711 §3.3.1).
type sentIndex struct {
	ssrc  uint32
	index uint64
}

// RFC 3711 §3.2.1 and §9.2: an index may reach 2^48 - 1 under one key.
const maxIndex = 1<<48 - 1

var errIndexExhausted = errors.New("srtp: 2^48 packets sent under one key (RFC 3711 §9.2)")

// newGCMSealer derives the session key and salt from the master key and
// salt with SRTP's key derivation (RFC 3711 §4.3.1, AES-CM as the PRF,
// key_derivation_rate 0), as RFC 7714 §11 has it for the AEAD profiles.
func newGCMSealer(masterKey, masterSalt []byte) (*gcmSealer, error) {
	if len(masterSalt) != 12 {
		return nil, errors.New("srtp: an AEAD profile's master salt is 12 bytes (RFC 7714 §12)")
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, err
	}
	// RFC 3711 §4.3.3 labels: 0x00 the SRTP encryption key, 0x02 its salt.
	key := derive(block, masterSalt, 0x00, len(masterKey))
	s := &gcmSealer{}
	copy(s.salt[:], derive(block, masterSalt, 0x02, len(s.salt)))
	sessionBlock, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if s.aead, err = cipher.NewGCM(sessionBlock); err != nil {
		return nil, err
	}
	return s, nil
}

// derive is RFC 3711 §4.3.1's key derivation with AES in counter mode
// (§4.3.3): x = (label << 48) XOR master salt, as a 112-bit value shifted
// into the block's top (the salt's 12 bytes of an AEAD profile leave the
// rest zero), then AES of x * 2^16 + counter, for as many blocks as n
// needs.
func derive(master cipher.Block, masterSalt []byte, label byte, n int) []byte {
	var x [aes.BlockSize]byte
	copy(x[:], masterSalt)
	x[7] ^= label // the label's byte: 48 bits above the end of the 112-bit x
	out := make([]byte, (n+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	for i := 0; i*aes.BlockSize < n; i++ {
		binary.BigEndian.PutUint16(x[14:], uint16(i))
		master.Encrypt(out[i*aes.BlockSize:], x[:])
	}
	return out[:n]
}

func (s *gcmSealer) seal(room []byte, h *rtp.Header, payload []byte) ([]byte, error) {
	hl, err := h.MarshalTo(room)
	if err != nil {
		return nil, err
	}
	roc, err := s.rollover(h.SSRC, h.SequenceNumber)
	if err != nil {
		return nil, err
	}
	// RFC 7714 §8.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt.
	iv := &s.iv
	iv[0], iv[1] = 0, 0
	binary.BigEndian.PutUint32(iv[2:], h.SSRC)
	binary.BigEndian.PutUint32(iv[6:], roc)
	binary.BigEndian.PutUint16(iv[10:], h.SequenceNumber)
	for i := range iv {
		iv[i] ^= s.salt[i]
	}
	// §8.2: the header is the associated data; the tag follows the
	// ciphertext. The payload is read where it lies, never copied first.
	out := s.aead.Seal(room[hl:hl], iv[:], payload, room[:hl])
	return room[:hl+len(out)], nil
}

// rollover is the ROC of the packet with seq on ssrc: RFC 3711 §3.3.1's
// estimate (its Appendix A) from the highest index sent, so that a
// resend of a packet from before a wrap keeps its old ROC. The highest
// index moves on with packets past it. An SSRC starts with ROC 0
// (§3.3.1), its first index the packet's sequence number.
func (s *gcmSealer) rollover(ssrc uint32, seq uint16) (uint32, error) {
	var st *sentIndex
	for i := range s.ssrcs {
		if s.ssrcs[i].ssrc == ssrc {
			st = &s.ssrcs[i]
			break
		}
	}
	if st == nil {
		s.ssrcs = append(s.ssrcs, sentIndex{ssrc: ssrc, index: uint64(seq)})
		return 0, nil
	}
	roc := st.index >> 16
	last := uint16(st.index)
	v := roc
	switch {
	case last < 1<<15:
		// A seq far above the last is from before the wrap; ROC 0 has none.
		if seq > last && seq-last > 1<<15 && roc > 0 {
			v = roc - 1
		}
	case last-1<<15 > seq:
		v = roc + 1 // past the wrap
	}
	i := v<<16 | uint64(seq)
	if i > maxIndex {
		return 0, errIndexExhausted // the ROC would wrap: an IV used again
	}
	if i > st.index {
		st.index = i
	}
	return uint32(v), nil
}
