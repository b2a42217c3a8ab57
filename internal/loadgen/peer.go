package loadgen

import (
	"crypto/tls"

	"keycard/eaptls/eaptlstest"
)

// newEAPTLSPeer is the real supplicant.
func newEAPTLSPeer(cfg *tls.Config, fragmentSize int, identity string) supplicant {
	p := eaptlstest.NewPeer(cfg, fragmentSize)
	p.Identity = identity
	return p
}
