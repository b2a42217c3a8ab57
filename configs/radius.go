package configs

import (
	"crypto/tls"
	"strings"
)

// tlsVersions are the versions tls_min_version and tls_max_version accept.
var tlsVersions = map[string]uint16{
	"1.2": tls.VersionTLS12,
	"1.3": tls.VersionTLS13,
}

// curves are the key exchanges the curves list accepts, by their YAML name.
var curves = map[string]tls.CurveID{
	"X25519":         tls.X25519,
	"P-256":          tls.CurveP256,
	"P-384":          tls.CurveP384,
	"X25519MLKEM768": tls.X25519MLKEM768,
}

const curveNames = "X25519, P-256, P-384 or X25519MLKEM768"

// TLSVersions returns the configured TLS versions as crypto/tls constants
// (tls.VersionTLS12, tls.VersionTLS13). Call it on a validated config; an
// unknown version yields 0, which crypto/tls reads as its own default.
func (r RADIUSConfig) TLSVersions() (minVersion, maxVersion uint16) {
	return tlsVersions[strings.TrimSpace(r.TLSMinVersion)], tlsVersions[strings.TrimSpace(r.TLSMaxVersion)]
}

// CurveIDs returns the configured key exchanges, in order of preference, for
// tls.Config.CurvePreferences. Call it on a validated config; unknown names
// are skipped.
func (r RADIUSConfig) CurveIDs() []tls.CurveID {
	ids := make([]tls.CurveID, 0, len(r.Curves))
	for _, name := range r.Curves {
		if id, ok := curveByName(name); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// curveByName looks a curve up by its YAML name, ignoring case.
func curveByName(name string) (tls.CurveID, bool) {
	for n, id := range curves {
		if strings.EqualFold(n, strings.TrimSpace(name)) {
			return id, true
		}
	}
	return 0, false
}
