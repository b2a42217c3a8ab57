package loadgen

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestOptionsDefaultsAndValidation(t *testing.T) {
	good := Options{
		Server: "127.0.0.1:1812", Secret: []byte("s"), Count: 1,
		Certificate: tls.Certificate{Certificate: [][]byte{{1}}, PrivateKey: &ecdsa.PrivateKey{}},
		RootCAs:     x509.NewCertPool(), ServerName: "radius.keycard.test",
	}
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string // "" = valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"IPv6 loopback", func(o *Options) { o.Server = "[::1]:1812" }, ""},
		{"remote refused", func(o *Options) { o.Server = "192.0.2.1:1812" }, "not a loopback address"},
		{"remote allowed", func(o *Options) { o.Server = "192.0.2.1:1812"; o.AllowRemote = true }, ""},
		{"a name", func(o *Options) { o.Server = "localhost:1812" }, "not a name"},
		{"no port", func(o *Options) { o.Server = "127.0.0.1" }, "want IP:port"},
		{"no secret", func(o *Options) { o.Secret = nil }, "secret: missing"},
		{"unbounded", func(o *Options) { o.Count = 0 }, "ends by itself"},
		{"duration only", func(o *Options) { o.Count = 0; o.Duration = time.Second }, ""},
		{"TLS 1.1", func(o *Options) { o.TLSVersion = tls.VersionTLS11 }, "not TLS 1.2 or 1.3"},
		{"no certificate", func(o *Options) { o.Certificate = tls.Certificate{} }, "client certificate"},
		{"no server name", func(o *Options) { o.ServerName = "" }, "server name"},
		{"tiny fragments", func(o *Options) { o.FragmentSize = 10 }, "fragment size"},
		{"too many workers", func(o *Options) { o.Concurrency = 5000 }, "concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			got, err := o.withDefaults()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Concurrency != 1 || got.TLSVersion != tls.VersionTLS13 || got.FragmentSize != DefaultFragmentSize ||
					got.Timeout != DefaultTimeout || got.Retries != DefaultRetries || got.MaxRounds != DefaultMaxRounds {
					t.Errorf("defaults not filled in: %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
