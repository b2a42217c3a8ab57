package vouchers

import (
	"crypto/sha256"
	"crypto/x509"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// verifiedChainsSize bounds the certificates whose chain is remembered; a
// hotel's devices, with room to spare.
const verifiedChainsSize = 16384

// verifiedChains remembers certificates whose signature chain to Keycard's
// CA verified, so that a device authenticating again (a re-authentication,
// a roam to another access point, a resumed TLS session) costs no signature
// checks: on a full EAP-TLS handshake the chain's two ECDSA verifications
// were a fifth of the server's CPU.
//
// Only the signatures are remembered. Every call still checks the time
// against the chain's validity window, and a miss or a time outside the
// window runs the full verification, which names the reason. The device,
// revocation and stay checks are never cached.
type verifiedChains struct {
	cache *lru.Cache[[sha256.Size]byte, validity]
}

// validity is the window in which every certificate of a verified chain is
// valid.
type validity struct {
	notBefore, notAfter time.Time
}

func newVerifiedChains() *verifiedChains {
	c, err := lru.New[[sha256.Size]byte, validity](verifiedChainsSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &verifiedChains{cache: c}
}

// valid reports whether cert's chain verified before and now is inside its
// window.
func (v *verifiedChains) valid(cert *x509.Certificate, now time.Time) bool {
	w, ok := v.cache.Get(sha256.Sum256(cert.Raw))
	return ok && !now.Before(w.notBefore) && !now.After(w.notAfter)
}

// add remembers a chain that x509.Verify accepted.
func (v *verifiedChains) add(chain []*x509.Certificate) {
	if len(chain) == 0 {
		return
	}
	w := validity{notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter}
	for _, c := range chain[1:] {
		if c.NotBefore.After(w.notBefore) {
			w.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(w.notAfter) {
			w.notAfter = c.NotAfter
		}
	}
	v.cache.Add(sha256.Sum256(chain[0].Raw), w)
}
