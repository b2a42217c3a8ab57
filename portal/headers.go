package portal

import (
	"net/http"

	"keycard/portal/httpsec"
)

// contentSecurityPolicy is the policy every portal response carries (see
// httpsec.ContentSecurityPolicy).
const contentSecurityPolicy = httpsec.ContentSecurityPolicy

// secure sets the security headers on every response (httpsec.Headers).
// Cache-Control no-store is the default: pages carry passwords and sign-in
// handles, downloads carry keys; the static assets override it.
func (p *Portal) secure(https bool, next http.Handler) http.Handler {
	return httpsec.Headers(https, next)
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
