package loadgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testServerName is the DNS name in the throwaway RADIUS server certificate.
const testServerName = "radius.keycard.test"

// testPKI is a throwaway CA shaped like Keycard's: root, issuing
// intermediate, an ECDSA P-256 RADIUS server certificate and a guest device
// certificate, all in files under one folder.
type testPKI struct {
	CAFile     string // root + intermediate, PEM
	ServerCert string // server leaf + intermediate, PEM
	ServerKey  string // unencrypted PKCS#8 PEM
	Client     tls.Certificate
	Roots      *x509.CertPool
}

func newTestPKI(t *testing.T, dir string) *testPKI {
	t.Helper()
	now := time.Now()
	serial := int64(0)
	issue := func(tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
		t.Helper()
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore = now.Add(-5 * time.Minute)
		if tmpl.NotAfter.IsZero() {
			tmpl.NotAfter = now.Add(24 * time.Hour)
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert, key
	}
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{
			Subject:               pkix.Name{Organization: []string{"Keycard Test Hotel"}, CommonName: cn},
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
	}
	root, rootKey := issue(ca("Keycard Test Root"), nil, nil)
	inter, interKey := issue(ca("Keycard Test Intermediate"), root, rootKey)
	server, serverKey := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: testServerName},
		DNSNames:    []string{testServerName},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, inter, interKey)
	client, clientKey := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "d-loadgen"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, inter, interKey)

	certPEM := func(cs ...*x509.Certificate) []byte {
		var b []byte
		for _, c := range cs {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		return b
	}
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(serverKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{
		CAFile:     write("ca.pem", certPEM(root, inter)),
		ServerCert: write("server.crt", certPEM(server, inter)),
		ServerKey:  write("server.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		Client: tls.Certificate{
			Certificate: [][]byte{client.Raw, inter.Raw},
			PrivateKey:  clientKey,
			Leaf:        client,
		},
		Roots: x509.NewCertPool(),
	}
	p.Roots.AddCert(root)
	return p
}
