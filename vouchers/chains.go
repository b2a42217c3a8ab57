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
// against the validity windows of the chain's certificates, exactly as
// x509.Verify would, and a miss or a time outside a window runs the full
// verification, which names the reason. That holds for both questions the
// cache answers: valid (the chain at now) and validPastExpiry (the chain at
// the leaf's NotAfter, and its CAs at now; see Store.verifyPastExpiry). The
// device, revocation and stay checks are never cached.
type verifiedChains struct {
	cache *lru.Cache[[sha256.Size]byte, validity]
}

// validity is when the certificates of a verified chain are valid.
type validity struct {
	chain window // every certificate of the chain, the leaf included
	cas   window // every CA certificate of the chain: the leaf's issuer up to the root
}

// window is a validity period, both ends included as in x509.Verify.
type window struct {
	notBefore, notAfter time.Time
}

func (w window) contains(t time.Time) bool {
	return !t.Before(w.notBefore) && !t.After(w.notAfter)
}

// windowOf is when every certificate of certs (at least one) is valid.
func windowOf(certs []*x509.Certificate) window {
	w := window{notBefore: certs[0].NotBefore, notAfter: certs[0].NotAfter}
	for _, c := range certs[1:] {
		if c.NotBefore.After(w.notBefore) {
			w.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(w.notAfter) {
			w.notAfter = c.NotAfter
		}
	}
	return w
}

// caWindow is when every CA certificate of a verified chain is valid. A
// chain of one certificate (a leaf that is itself a trusted root) is its
// own CA.
func caWindow(chain []*x509.Certificate) window {
	if len(chain) < 2 {
		return windowOf(chain)
	}
	return windowOf(chain[1:])
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
	return ok && w.chain.contains(now)
}

// validPastExpiry reports whether cert's chain verified before, the whole
// chain was valid at cert's NotAfter, and the chain's CAs are still valid
// at now: what Store.verifyPastExpiry asks x509.Verify and caWindow, less
// the signatures. It says nothing about whether now is past NotAfter; the
// caller checks that.
func (v *verifiedChains) validPastExpiry(cert *x509.Certificate, now time.Time) bool {
	w, ok := v.cache.Get(sha256.Sum256(cert.Raw))
	return ok && w.chain.contains(cert.NotAfter) && w.cas.contains(now)
}

// add remembers a chain that x509.Verify accepted.
func (v *verifiedChains) add(chain []*x509.Certificate) {
	if len(chain) == 0 {
		return
	}
	v.cache.Add(sha256.Sum256(chain[0].Raw), validity{chain: windowOf(chain), cas: caWindow(chain)})
}
