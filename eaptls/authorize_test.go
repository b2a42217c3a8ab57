package eaptls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"sync/atomic"
	"testing"

	"keycard/eaptls"
	"keycard/eaptls/eaptlstest"
)

// Config.Authorize decides after the peer has proven its key and before the
// final flight: a refusal reaches the peer as an EAP-Failure while its own
// handshake is still incomplete, and a peer without the key never gets as
// far as the policy.
func TestAuthorizeAfterProofOfKey(t *testing.T) {
	p := newTestPKI(t)
	refused := errors.New("stay ended")
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			var calls atomic.Int32
			cfg := &eaptls.Config{TLS: p.serverTLS(version, version), Authorize: func(cs tls.ConnectionState) error {
				calls.Add(1)
				if len(cs.PeerCertificates) == 0 {
					t.Error("Authorize without the peer's certificate")
				}
				return refused
			}}
			peer := eaptlstest.NewPeer(p.clientTLS(version, version), 1000)
			res, err := converse(t, cfg, peer, 0)
			if res.Outcome != eaptls.Failure || !errors.Is(res.Err, refused) {
				t.Fatalf("outcome %v, err %v; want Failure with the policy's error", res.Outcome, res.Err)
			}
			if !errors.Is(err, eaptlstest.ErrFailure) {
				t.Errorf("peer: %v, want EAP-Failure", err)
			}
			if len(res.MSK) != 0 {
				t.Error("a refused session exported keys")
			}
			if calls.Load() != 1 {
				t.Errorf("Authorize called %d times, want 1", calls.Load())
			}

			// The device's certificate with someone else's key.
			calls.Store(0)
			thief := p.clientTLS(version, version)
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			thief.Certificates = []tls.Certificate{{Certificate: thief.Certificates[0].Certificate, PrivateKey: other}}
			res, _ = converse(t, cfg, eaptlstest.NewPeer(thief, 1000), 0)
			if res.Outcome != eaptls.Failure {
				t.Fatalf("a peer without the key: %v", res.Outcome)
			}
			if calls.Load() != 0 {
				t.Errorf("Authorize ran for a peer that did not prove its key")
			}
		})
	}
}
