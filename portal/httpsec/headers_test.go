package httpsec

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHeaders(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, https := range []bool{true, false} {
		rec := httptest.NewRecorder()
		Headers(https, ok).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		h := rec.Header()
		if h.Get("Content-Security-Policy") != ContentSecurityPolicy || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("https=%v: headers %v", https, h)
		}
		if got := h.Get("Strict-Transport-Security") != ""; got != https {
			t.Errorf("https=%v: HSTS set %v", https, got)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "data:"} {
		if strings.Contains(ContentSecurityPolicy, bad) {
			t.Errorf("the CSP allows %q", bad)
		}
	}
}

func TestCrossOrigin(t *testing.T) {
	h := CrossOrigin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, tc := range []struct {
		method, site string
		want         int
	}{
		{"POST", "cross-site", http.StatusForbidden},
		{"POST", "same-origin", http.StatusOK},
		{"POST", "", http.StatusOK}, // not a browser (a PMS, curl)
		{"GET", "cross-site", http.StatusOK},
	} {
		r := httptest.NewRequest(tc.method, "https://desk.example/stays", nil)
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tc.want {
			t.Errorf("%s Sec-Fetch-Site=%q: %d, want %d", tc.method, tc.site, rec.Code, tc.want)
		}
	}
}

func TestClientAddr(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:5000":          "192.0.2.1",
		"[::ffff:192.0.2.1]:5000": "192.0.2.1",
		"[2001:db8::1]:443":       "2001:db8::1",
		"garbage":                 "unknown",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = in
		if got := Source(r); got != want {
			t.Errorf("Source(%q) = %q, want %q", in, got, want)
		}
	}
}
