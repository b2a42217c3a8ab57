package radiusd_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"layeh.com/radius"

	"keycard/eaptls/eaptlstest"
	"keycard/radiusd"
)

// BenchmarkAuthentication runs whole EAP-TLS authentications through a
// served Server over loopback UDP, as an access point would, with the
// in-process supplicant on the other side (so an op includes the device's
// share of the crypto). Keycard's default 1000-byte fragments. The resumed
// case resumes from the first full handshake's ticket every time.
func BenchmarkAuthentication(b *testing.B) {
	for _, tc := range []struct {
		name    string
		version uint16
		resume  bool
	}{
		{"TLS1.2", tls.VersionTLS12, false},
		{"TLS1.3", tls.VersionTLS13, false},
		{"TLS1.3-resumed", tls.VersionTLS13, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b, radiusd.Config{})
			cfg := f.device("device-1", x509.ExtKeyUsageClientAuth, tc.version)
			if tc.resume {
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			}
			n := &nas{t: b, client: f.client(), station: "02-00-00-00-00-01"}
			auth := func() *eaptlstest.Peer {
				n.rounds, n.state = nil, nil
				peer := eaptlstest.NewPeer(cfg, 1000)
				if x, err := n.authenticate(peer); err != nil || x.resp.Code != radius.CodeAccessAccept {
					b.Fatalf("%v %v", x.resp.Code, err)
				}
				return peer
			}
			if tc.resume {
				auth() // the ticket every later op resumes from
			}
			b.ReportAllocs()
			for b.Loop() {
				if peer := auth(); peer.ConnectionState().DidResume != tc.resume {
					b.Fatalf("resumed %v, want %v", peer.ConnectionState().DidResume, tc.resume)
				}
			}
		})
	}
}
