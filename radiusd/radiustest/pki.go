package radiustest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"sync/atomic"
	"testing"
	"time"
)

// PKI is a throwaway certificate authority for tests: a root that signs
// the RADIUS server's certificate and device certificates directly.
type PKI struct {
	Root   *x509.Certificate
	Roots  *x509.CertPool
	Server tls.Certificate // serverAuth, DNS name radius.keycard.test

	key    *ecdsa.PrivateKey
	serial atomic.Int64
}

// NewPKI makes a root valid from an hour before now to a day after.
func NewPKI(t testing.TB, now time.Time) *PKI {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Keycard Test Root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &PKI{Root: root, Roots: x509.NewCertPool(), key: key}
	p.serial.Store(1)
	p.Roots.AddCert(root)
	p.Server = p.Issue(t, "radius.keycard.test", now, now.Add(12*time.Hour), x509.ExtKeyUsageServerAuth)
	return p
}

// Issue signs a leaf certificate with the given usages; a serverAuth leaf
// gets cn as its DNS name.
func (p *PKI) Issue(t testing.TB, cn string, now, notAfter time.Time, usage ...x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
	}
	for _, u := range usage {
		if u == x509.ExtKeyUsageServerAuth {
			tmpl.DNSNames = []string{cn}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.Root, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// ClientTLS returns the TLS configuration of a guest device holding cert
// that trusts this PKI's root for the RADIUS server name.
func (p *PKI) ClientTLS(cert tls.Certificate, now func() time.Time) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      p.Roots,
		ServerName:   "radius.keycard.test",
		Time:         now,
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// CheckResponse verifies a response b to the request whose Request
// Authenticator is reqAuth: the Response Authenticator, and that the
// first attribute is a valid Message-Authenticator (BlastRADIUS).
func CheckResponse(b []byte, reqAuth [16]byte, secret []byte) error {
	if len(b) < 38 {
		return errors.New("radiustest: response too short for a Message-Authenticator")
	}
	h := md5.New()
	h.Write(b[:4])
	h.Write(reqAuth[:])
	h.Write(b[20:])
	h.Write(secret)
	if !bytes.Equal(h.Sum(nil), b[4:20]) {
		return errors.New("radiustest: Response Authenticator does not match")
	}
	if b[20] != 80 || b[21] != 18 {
		return errors.New("radiustest: the first attribute is not Message-Authenticator")
	}
	c := bytes.Clone(b)
	copy(c[4:20], reqAuth[:])
	clear(c[22:38])
	mac := hmac.New(md5.New, secret)
	mac.Write(c)
	if !hmac.Equal(mac.Sum(nil), b[22:38]) {
		return errors.New("radiustest: Message-Authenticator does not match")
	}
	return nil
}
