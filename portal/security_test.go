package portal

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

func TestCaptiveProbesRedirectToThePortal(t *testing.T) {
	f := newFixture(t)
	h := f.p.RedirectHandler()
	for _, path := range []string{
		"/hotspot-detect.html", "/library/test/success.html", // Apple
		"/generate_204", "/gen_204", // Android, Chrome
		"/connecttest.txt", "/ncsi.txt", // Windows
		"/", "/some/page?q=1",
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
			rq := request{method: method, path: path}
			if method == http.MethodPost {
				rq.form = url.Values{"x": {"1"}}
			}
			w := serve(h, rq)
			if w.Code != http.StatusFound || w.Header().Get("Location") != testURL {
				t.Errorf("%s %s: %d to %q, want 302 to %s", method, path, w.Code, w.Header().Get("Location"), testURL)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: a probe's answer may be cached", method, path)
			}
			if w.Header().Get("Strict-Transport-Security") != "" {
				t.Errorf("%s %s: HSTS over plain HTTP", method, path)
			}
		}
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	f := newFixture(t)
	_, code := f.stay("Ada Lovelace", 3)
	enrolled := f.enrol(code, "other", "", "")
	links := downloads(t, enrolled.Body.String())
	for _, tc := range []struct {
		name  string
		w     func() *httptest.ResponseRecorder
		cache string
	}{
		{"form", func() *httptest.ResponseRecorder { return f.do(request{path: "/"}) }, "no-store"},
		{"result", func() *httptest.ResponseRecorder { return enrolled }, "no-store"},
		{"download", func() *httptest.ResponseRecorder { return f.do(request{path: links[0]}) }, "no-store"},
		{"used download", func() *httptest.ResponseRecorder { return f.do(request{path: links[0]}) }, "no-store"},
		{"not found", func() *httptest.ResponseRecorder { return f.do(request{path: "/nothing"}) }, "no-store"},
		{"captive API", func() *httptest.ResponseRecorder { return f.do(request{path: "/api/captive"}) }, "private, no-store"},
		{"stylesheet", func() *httptest.ResponseRecorder { return f.do(request{path: "/static/style.css"}) }, "public, max-age=3600"},
		{"script", func() *httptest.ResponseRecorder { return f.do(request{path: "/static/portal.js"}) }, "public, max-age=3600"},
	} {
		w := tc.w()
		h := w.Header()
		checks := map[string]string{
			"Strict-Transport-Security": "max-age=31536000",
			"Content-Security-Policy":   contentSecurityPolicy,
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "no-referrer",
			"X-Frame-Options":           "DENY",
			"Cache-Control":             tc.cache,
		}
		for k, v := range checks {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, h.Get(k), v)
			}
		}
	}
	for _, part := range []string{"default-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "script-src 'self'"} {
		if !strings.Contains(contentSecurityPolicy, part) {
			t.Errorf("CSP lacks %s", part)
		}
	}
	if strings.Contains(contentSecurityPolicy, "unsafe-inline") || strings.Contains(contentSecurityPolicy, "unsafe-eval") {
		t.Error("CSP allows inline script")
	}
	// The pages have no inline script or style for the CSP to refuse.
	body := f.do(request{path: "/"}).Body.String()
	if inlineRE.MatchString(body) {
		t.Errorf("inline script or style on the page: %q", inlineRE.FindString(body))
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	f := newFixture(t)
	st, code := f.stay("Ada Lovelace", 3)
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"Origin only", map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}},
		{"same site, other host", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://other.hotel.test"}},
	} {
		w := f.do(request{form: url.Values{"code": {code}, "platform": {"android"}}, header: tc.header})
		wantStatus(t, w, http.StatusForbidden, tc.name)
		wantBody(t, w, "sent from another website")
	}
	if devices, _ := f.vs.Devices(t.Context(), st.ID); len(devices) != 0 {
		t.Fatalf("a cross-origin post enrolled %d devices", len(devices))
	}
	// The portal's own form gets through.
	wantStatus(t, f.enrol(code, "android", "", ""), http.StatusOK, "same origin")
}

func TestGuestNameIsEscaped(t *testing.T) {
	f := newFixture(t)
	_, code := f.stay(`<script>alert("pwned")</script> Lovelace`, 3)
	w := f.do(request{form: url.Values{"code": {code}, "platform": {"android"}, "label": {`<img src=x onerror=alert(1)>`}}})
	wantStatus(t, w, http.StatusOK, "enrol")
	body := w.Body.String()
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Fatalf("guest-supplied text reached the page unescaped:\n%s", body)
	}
	wantBody(t, w, "Welcome, &lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; Lovelace.", "&lt;img src=x onerror=alert(1)&gt;")
}

var (
	attrRE   = regexp.MustCompile(`\b(src|href|action)="([^"]*)"`)
	inlineRE = regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|\sstyle="|\son[a-z]+="|javascript:`)
)

// pageWeightLimit is the most one page may weigh with everything it
// loads: the HTML, the stylesheet, the script.
const pageWeightLimit = 50 << 10

func TestPageWeight(t *testing.T) {
	f := newFixture(t)
	_, code := f.stay("Ada Lovelace", 1)
	assets := len(f.do(request{path: "/static/style.css"}).Body.Bytes()) + len(f.do(request{path: "/static/portal.js"}).Body.Bytes())
	result := f.enrol(code, "windows", windowsUA, "")
	pages := map[string]*httptest.ResponseRecorder{
		"form":         f.do(request{path: "/"}),
		"form, German": f.do(request{path: "/", lang: "de"}),
		"mini-browser": f.do(request{path: "/", ua: appleCNAUA}),
		"result":       result,
		"device cap":   f.enrol(code, "linux", linuxUA, otherAddr),
		"error":        f.enrol("nonsense", "android", "", "203.0.113.9:1"),
		"not found":    f.do(request{path: "/nothing"}),
	}
	for name, w := range pages {
		total := len(w.Body.Bytes()) + assets
		if total > pageWeightLimit {
			t.Errorf("%s weighs %d bytes with its assets; the limit is %d", name, total, pageWeightLimit)
		}
		// Nothing is loaded from, or linked to, another host (but the
		// hotel's help desk, which is not loaded).
		for _, m := range attrRE.FindAllStringSubmatch(w.Body.String(), -1) {
			v := m[2]
			switch {
			case strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//"):
			case m[1] == "href" && (strings.HasPrefix(v, "mailto:") || strings.HasPrefix(v, "tel:")):
			default:
				t.Errorf("%s refers to %s=%q", name, m[1], v)
			}
		}
		if !strings.Contains(w.Body.String(), `name="viewport" content="width=device-width, initial-scale=1"`) {
			t.Errorf("%s has no mobile viewport", name)
		}
	}
	css := f.do(request{path: "/static/style.css"}).Body.String()
	if strings.Contains(css, "url(") || strings.Contains(css, "@import") || strings.Contains(css, "@font-face") {
		t.Error("the stylesheet loads something")
	}
	t.Logf("assets %d bytes; result page %d bytes", assets, len(result.Body.Bytes()))
}

func TestAcceptLanguagePicksGerman(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		header, lang, want string
	}{
		{"de-DE,de;q=0.9,en;q=0.8", "de", "Gutscheincode"},
		{"de-CH", "de", "Gutscheincode"},
		{"fr-FR,de;q=0.5", "de", "Gutscheincode"},
		{"fr-FR", "en", "Voucher code"},
		{"en-GB,de;q=0.5", "en", "Voucher code"},
		{"", "en", "Voucher code"},
		{"garbage;;q=x", "en", "Voucher code"},
	} {
		w := f.do(request{path: "/", lang: tc.header})
		if !strings.Contains(w.Body.String(), `<html lang="`+tc.lang+`"`) || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("Accept-Language %q: want lang %s with %q", tc.header, tc.lang, tc.want)
		}
		if w.Header().Get("Content-Language") != tc.lang {
			t.Errorf("Accept-Language %q: Content-Language %q", tc.header, w.Header().Get("Content-Language"))
		}
	}
	// Errors come in German too.
	w := f.do(request{form: url.Values{"code": {"nonsense"}, "platform": {"android"}}, lang: "de"})
	wantBody(t, w, "Dieser Code stimmt nicht.")
}

func TestNoSecretInTheLogs(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SCEP = false })
	_, code := f.stay("Ada Lovelace", 5)
	var secrets []string
	for _, tc := range []struct{ platform, ua string }{{"android", androidUA}, {"apple", iPhoneUA}, {"windows", windowsUA}, {"linux", linuxUA}} {
		w := f.enrol(code, tc.platform, tc.ua, "")
		wantStatus(t, w, http.StatusOK, tc.platform)
		pass := password(w.Body.String())
		secrets = append(secrets, pass, strings.ReplaceAll(pass, "-", ""))
		for _, link := range downloads(t, w.Body.String()) {
			body := f.fetch(link).Body.Bytes()
			secrets = append(secrets, strings.TrimPrefix(link, "/download/"))
			if key, _, _, err := pkcs12.DecodeChain(body, pass); err == nil {
				// A .p12 download: its key in any encoding, and the file.
				der, _ := x509.MarshalPKCS8PrivateKey(key)
				secrets = append(secrets, base64.StdEncoding.EncodeToString(der)[:40], hex.EncodeToString(der)[:40], base64.StdEncoding.EncodeToString(body)[:40])
			}
		}
	}
	// A wrong code and a locked-out guess are logged too, without the code.
	bad := wrongCode(code, 3)
	f.enrol(bad, "android", "", otherAddr)
	secrets = append(secrets, code, strings.ReplaceAll(code, "-", ""), bad)
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"profile ready"`) || !strings.Contains(logs, `"msg":"sign-in refused"`) {
		t.Fatalf("the decisions are not logged:\n%s", logs)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the log holds a secret (%.12s…)", s)
		}
	}
	if n := f.p.downloads.len(); n != 0 {
		t.Errorf("%d downloads still held after being fetched", n)
	}
}
