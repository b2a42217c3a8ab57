package httpsec

import (
	"net/http"
	"net/netip"
	"strings"
)

// ContentSecurityPolicy allows a page what Keycard's pages use and nothing
// more: their own stylesheet, script and images (no inline script or
// style, no other host), forms posted only to the same origin, no
// framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Headers sets the security headers on every response: the
// Content-Security-Policy, nosniff, no referrer, no framing, no powerful
// browser features, and Cache-Control no-store (pages carry sign-in
// handles, codes and keys; a handler serving static assets overrides it).
// With https set it adds Strict-Transport-Security for a year (not
// includeSubDomains: the hotel's other hosts are not Keycard's to decide).
func Headers(https bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if https {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// CrossOrigin refuses a state-changing request from another site (a form
// on another page posting here) with net/http.CrossOriginProtection, and
// answers it with deny, which should say so and log it.
func CrossOrigin(deny http.Handler, next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(deny)
	return cop.Handler(next)
}

// ClientAddr is the address the request came from, IPv4-mapped addresses
// unmapped; the zero Addr when RemoteAddr does not parse. Keycard's
// listeners are reached directly: no X-Forwarded-For is trusted.
func ClientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host := r.RemoteAddr
		if i := strings.LastIndexByte(host, ':'); i > 0 {
			host = host[:i]
		}
		a, _ := netip.ParseAddr(strings.Trim(host, "[]"))
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}

// Source is ClientAddr as the audit log's Actor.Source writes it:
// "unknown" when the address does not parse.
func Source(r *http.Request) string {
	if a := ClientAddr(r); a.IsValid() {
		return a.String()
	}
	return "unknown"
}
