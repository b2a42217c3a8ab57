package portal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The portal on real sockets: HTTPS with TLS 1.2 and up only, plain HTTP
// redirecting, and a clean shutdown.
func TestServeAndShutdown(t *testing.T) {
	a := testCA(t)
	cert, err := a.PortalCertificate(context.Background(), []string{"127.0.0.1"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *Config) {
		c.Listen, c.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
	})
	if err := f.p.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.p.Serve() }()
	httpsAddr, httpAddr := f.p.Addrs()

	roots := x509.NewCertPool()
	roots.AddCert(a.Root())
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get("http://" + httpAddr + "/generate_204")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != testURL {
		t.Errorf("probe: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+httpsAddr+"/api/captive", nil)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"captive":true`) || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("HTTPS: %s %v", body, resp.TLS)
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get("https://" + httpsAddr + "/"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after Shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
}

func TestListenNamesTheSetting(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Listen = "127.0.0.1:0"
		c.HTTPListen = "256.0.0.1:80"
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }
	})
	err := f.p.Listen()
	if err == nil || !strings.Contains(err.Error(), "portal.http_listen") {
		t.Errorf("Listen = %v, want an error naming portal.http_listen", err)
	}
}
