package eaptls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"
)

// testPKI is a root CA with one server and one device certificate.
type testPKI struct {
	roots  *x509.CertPool
	server tls.Certificate
	device tls.Certificate
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

func newTestPKI(t testing.TB) testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		now := time.Now()
		caKey := mustKey(t)
		caTmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "Keycard Test Root"},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		leaf := func(serial int64, cn string, eku x509.ExtKeyUsage, dns []string) tls.Certificate {
			k := mustKey(t)
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(serial),
				Subject:      pkix.Name{CommonName: cn},
				DNSNames:     dns,
				NotBefore:    now.Add(-time.Hour),
				NotAfter:     now.Add(24 * time.Hour),
				KeyUsage:     x509.KeyUsageDigitalSignature,
				ExtKeyUsage:  []x509.ExtKeyUsage{eku},
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := x509.ParseCertificate(der)
			return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: c}
		}
		pki.roots = x509.NewCertPool()
		pki.roots.AddCert(ca)
		pki.server = leaf(2, "radius.keycard.test", x509.ExtKeyUsageServerAuth, []string{"radius.keycard.test"})
		pki.device = leaf(3, "d-1", x509.ExtKeyUsageClientAuth, nil)
	})
	return pki
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p testPKI) serverTLS(minV, maxV uint16) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.roots,
		MinVersion:   minV,
		MaxVersion:   maxV,
	}
}

func (p testPKI) clientTLS(minV, maxV uint16) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.device},
		RootCAs:      p.roots,
		ServerName:   "radius.keycard.test",
		MinVersion:   minV,
		MaxVersion:   maxV,
	}
}
