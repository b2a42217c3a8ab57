package portal

import "net/http"

// contentSecurityPolicy allows the page what it uses and nothing more:
// its own stylesheet and script (no inline script or style, no other
// host), forms posted only to itself, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// secure sets the security headers on every response. Cache-Control
// no-store is the default: pages carry passwords and sign-in handles,
// downloads carry keys; the static assets override it.
func (p *Portal) secure(https bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if https {
			// A year, and not includeSubDomains: the hotel's other hosts are
			// not Keycard's to decide.
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// crossOrigin answers a form post that net/http.CrossOriginProtection
// refused (a page on another site posting to the portal).
func (p *Portal) crossOrigin(w http.ResponseWriter, r *http.Request) {
	p.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"),
		"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "from", guest(r).Source)
	p.message(w, r, http.StatusForbidden, "err_title", "err_cross_origin")
}

func (p *Portal) notFound(w http.ResponseWriter, r *http.Request) {
	p.message(w, r, http.StatusNotFound, "err_title", "err_not_found")
}
