package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"keycard/configs"
	"keycard/vouchers"
)

// keycard serve runs the guest portal beside RADIUS: the plain-HTTP
// probes redirect to the HTTPS URL, whose certificate (from Keycard's own
// CA, for the address 127.0.0.1) verifies, TLS below 1.2 is refused, the
// RFC 8908 API and SCEP answer, and a voucher code posted from the
// portal's own page gets a profile. (The browser test does it all as a
// guest would; this one needs no browser.)
func TestPortalServe(t *testing.T) {
	requireTool(t, "radclient")
	h := newHarness(t)
	h.run("ca", "init")
	h.run("nas", "add", "--name", "lobby-ap", "--address", "127.0.0.1", "--secret", h.secret)
	var stay createdStay
	h.runJSON(&stay, "stay", "create", "--room", "204", "--guest", "Ada Lovelace", "--check-out", "3h")
	h.serve()
	portalURL := fmt.Sprintf("https://127.0.0.1:%d/", h.portal)

	rootPEM, err := os.ReadFile(filepath.Join(h.dir, "data", "ca", "root.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(u string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	for _, probe := range []string{"/hotspot-detect.html", "/generate_204", "/connecttest.txt"} {
		resp, _ := get(fmt.Sprintf("http://127.0.0.1:%d%s", h.probe, probe))
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != portalURL {
			t.Errorf("probe %s: %d to %q, want 302 to %s", probe, resp.StatusCode, resp.Header.Get("Location"), portalURL)
		}
	}
	resp, body := get(portalURL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="code"`) {
		t.Fatalf("portal: %d\n%s", resp.StatusCode, body)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("security headers missing: %v", resp.Header)
	}
	if _, body := get(portalURL + "api/captive"); !strings.Contains(body, `"captive":true`) {
		t.Errorf("captive API: %s", body)
	}
	if _, body := get(portalURL + "scep?operation=GetCACaps"); !strings.Contains(body, "SCEPStandard") {
		t.Errorf("SCEP GetCACaps: %q", body)
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(portalURL); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}

	form := url.Values{"code": {stay.Voucher}, "platform": {"other"}, "label": {"laptop"}}
	req, _ := http.NewRequest(http.MethodPost, portalURL+"enrol", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", strings.TrimSuffix(portalURL, "/"))
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	link := regexp.MustCompile(`href="/(download/[^"]+)"`).FindStringSubmatch(string(b))
	if resp.StatusCode != http.StatusOK || link == nil {
		t.Fatalf("enrol: %d\n%s\n--- keycard ---\n%s", resp.StatusCode, b, tail(h.logs.String(), 20))
	}
	if resp, body := get(portalURL + link[1]); resp.StatusCode != http.StatusOK || !strings.Contains(body, "EAPIdentityProviderList") {
		t.Errorf("download: %d %.200s", resp.StatusCode, body)
	}
	// The enrolment is in the audit log with the guest's address.
	if out := h.run("audit", "list"); !strings.Contains(out, "device.enrol") || !strings.Contains(out, "127.0.0.1") {
		t.Errorf("audit log:\n%s", out)
	}
}

// make run (serve --demo with the dev config) prints a portal URL that
// works on this machine, and where the plain-HTTP probe answers.
func TestPortalDemoOutput(t *testing.T) {
	cfg, err := configs.Load(filepath.Join("..", "..", "configs", "keycard.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printDemoPortal(&out, &env{cfg: cfg, configPath: "configs/keycard.dev.yaml"}, vouchers.Stay{ID: 1})
	for _, want := range []string{"Portal: https://127.0.0.1:8443/", "http://127.0.0.1:8080/hotspot-detect.html", "Keycard's own CA"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
