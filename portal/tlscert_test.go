package portal

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writePair writes a self-signed certificate for name and its key.
func writePair(t *testing.T, dir, name string, serial int64, mod time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "portal.crt"), filepath.Join(dir, "portal.key")
	write := func(path string, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return certFile, keyFile
}

func TestFileCertificateReloadsWhenTheFilesChange(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Now()}
	certFile, keyFile := writePair(t, dir, "wifi.hotel.test", 1, time.Now().Add(-time.Hour))
	fc, err := LoadFileCertificate(certFile, keyFile, clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		c, err := fc.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.Int64()
	}
	if serial() != 1 {
		t.Fatal("first certificate not served")
	}
	// Renewed on disk (certbot): picked up at the next look.
	writePair(t, dir, "wifi.hotel.test", 2, time.Now())
	if serial() != 1 {
		t.Error("looked at the files again within the check interval")
	}
	clock.Advance(certCheckInterval)
	if serial() != 2 {
		t.Error("the renewed certificate was not picked up")
	}
	// Half written: the key does not match. The one in use stays.
	if err := os.WriteFile(keyFile, []byte("-----BEGIN PRIVATE KEY-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Advance(certCheckInterval)
	if serial() != 2 {
		t.Error("a broken key file replaced the working certificate")
	}

	if _, err := LoadFileCertificate(filepath.Join(dir, "missing.crt"), keyFile, nil, nil); err == nil {
		t.Error("a missing certificate file loaded")
	}
}

func TestRenewingCertificate(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	issued := 0
	fail := false
	issue := func(context.Context) (tls.Certificate, error) {
		if fail {
			return tls.Certificate{}, errors.New("CA unavailable")
		}
		issued++
		now := clock.Now()
		return tls.Certificate{Leaf: &x509.Certificate{SerialNumber: big.NewInt(int64(issued)), NotBefore: now, NotAfter: now.Add(30 * 24 * time.Hour)}}, nil
	}
	rc, err := NewRenewingCertificate(context.Background(), issue, clock.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		c, _ := rc.GetCertificate(nil)
		return c.Leaf.SerialNumber.Int64()
	}
	clock.Advance(19 * 24 * time.Hour)
	if serial() != 1 || issued != 1 {
		t.Fatal("renewed before two thirds of the life")
	}
	clock.Advance(24 * time.Hour)
	fail = true
	if serial() != 1 {
		t.Fatal("a failed renewal dropped the certificate")
	}
	fail = false
	if serial() != 1 {
		t.Error("retried within the minute")
	}
	clock.Advance(time.Minute)
	if serial() != 2 {
		t.Error("not renewed after the failure")
	}
}
