package rtc

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// srtpKeys learns, from a DTLS handshake pion runs as the server, what
// RFC 5764 §4.2 derives the SRTP keys from: the master secret (from the
// key log pion's DTLS writes, RFC 5246 §8.1), both randoms, the cipher
// suite (its hash is the PRF's) and the SRTP protection profile (the last
// two from the ServerHello, whose hook pion calls as it sends it). pion
// keeps the DTLS connection and the keys it exports from it to itself;
// both inputs come through public settings made for debugging and for
// editing the hello, and the keys derived are checked against pion's own
// exporter in srtpkeys_test.go.
type srtpKeys struct {
	mu           sync.Mutex
	clientRandom []byte
	masterSecret []byte
	serverRandom []byte
	suite        dtls.CipherSuiteID
	profile      srtp.ProtectionProfile
}

// wire has s (a viewer's own SettingEngine) learn the handshake into k.
// The node must be the DTLS server: as the client it would never see the
// server's random. An offer of a=setup:active makes it so; one of actpass
// lets the answerer choose (RFC 5763 §5), and answer is set for it to
// choose passive. (pion answers passive to any offer once told to, which
// is why an offer of passive gets no Egress at all.)
func (k *srtpKeys) wire(s *webrtc.SettingEngine, answer bool) {
	if answer {
		_ = s.SetAnsweringDTLSRole(webrtc.DTLSRoleServer)
	}
	s.SetDTLSKeyLogWriter(k)
	s.SetDTLSServerHelloMessageHook(k.serverHello)
}

// Write takes one key log line, "CLIENT_RANDOM <random> <secret>" in
// hex (the NSS key log format pion writes).
func (k *srtpKeys) Write(line []byte) (int, error) {
	f := bytes.Fields(line)
	if len(f) != 3 || string(f[0]) != "CLIENT_RANDOM" {
		return len(line), nil
	}
	cr, err1 := hex.DecodeString(string(f[1]))
	ms, err2 := hex.DecodeString(string(f[2]))
	if err1 == nil && err2 == nil {
		k.mu.Lock()
		k.clientRandom, k.masterSecret = cr, ms
		k.mu.Unlock()
	}
	return len(line), nil
}

func (k *srtpKeys) serverHello(m handshake.MessageServerHello) handshake.Message {
	r := m.Random.MarshalFixed()
	k.mu.Lock()
	k.serverRandom = r[:]
	if m.CipherSuiteID != nil {
		k.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	for _, e := range m.Extensions {
		if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			// RFC 5764 §4.1.1: the server's use_srtp names the one profile chosen.
			k.profile = srtp.ProtectionProfile(u.ProtectionProfiles[0])
		}
	}
	k.mu.Unlock()
	return &m
}

var errNoKeys = errors.New("the DTLS handshake's secrets were not all seen (the node was not the DTLS server, or no SRTP profile was chosen)")

// sealer is what seals the RTP the node (the DTLS server) sends.
func (k *srtpKeys) sealer() (sealer, srtp.ProtectionProfile, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.masterSecret == nil || k.serverRandom == nil || k.profile == 0 {
		return nil, 0, errNoKeys
	}
	cfg := srtp.Config{Profile: k.profile}
	if err := cfg.ExtractSessionKeysFromDTLS(exporter{k}, false); err != nil {
		return nil, 0, err
	}
	s, err := newSealer(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, k.profile)
	return s, k.profile, err
}

// exporter is RFC 5705 §4's keying material exporter over TLS 1.2's PRF
// (RFC 5246 §5), seeded with the client's random then the server's, as
// pion's dtls.State.ExportKeyingMaterial computes it. Under k.mu.
type exporter struct{ k *srtpKeys }

func (e exporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("a keying material context is not supported")
	}
	seed := append(append([]byte(label), e.k.clientRandom...), e.k.serverRandom...)
	return prf.PHash(e.k.masterSecret, seed, length, prfHash(e.k.suite))
}

// prfHash is the PRF hash of a cipher suite pion's DTLS offers: SHA-384
// for the suites named so, SHA-256 for every other TLS 1.2 suite (RFC 5246
// §5, RFC 5289 §3).
func prfHash(id dtls.CipherSuiteID) prf.HashFunc {
	switch id {
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return sha512.New384
	}
	return sha256.New
}
