package eaptls_test

import (
	"crypto/tls"
	"testing"

	"keycard/eaptls"
	"keycard/eaptls/eaptlstest"
)

// BenchmarkConversation runs whole EAP-TLS conversations in memory, server
// and in-process supplicant together (so an op is about twice the server's
// share), with Keycard's default 1000-byte fragments: a regression guard for
// the per-packet path. make bench reports server CPU against FreeRADIUS.
func BenchmarkConversation(b *testing.B) {
	p := newTestPKI(b)
	for _, tc := range []struct {
		name    string
		version uint16
	}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := &eaptls.Config{TLS: p.serverTLS(tc.version, tc.version)}
			b.ReportAllocs()
			for b.Loop() {
				res, err := converse(b, cfg, eaptlstest.NewPeer(p.clientTLS(tc.version, tc.version), 1000), 0)
				if err != nil || res.Outcome != eaptls.Success {
					b.Fatal(res.Err, err)
				}
			}
		})
	}
}
