package ca

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/smallstep/certificates/cas/apiv1"
	"go.step.sm/crypto/keyutil"
	"go.step.sm/crypto/x509util"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// checkServerName accepts a fully qualified lower-case DNS name. Requiring a
// dot also keeps "<name>.crt" clear of root.crt and intermediate.crt.
func checkServerName(name string) error {
	labels := strings.Split(name, ".")
	if len(name) > 253 || len(labels) < 2 {
		return fmt.Errorf("ca: server name %q is not a fully qualified DNS name like \"radius.hotel.example\"", name)
	}
	for _, l := range labels {
		if !dnsLabel.MatchString(l) {
			return fmt.Errorf("ca: server name %q is not a valid lower-case DNS name", name)
		}
	}
	return nil
}

// ServerCertificate returns the TLS certificate for the server called name
// (a DNS name, such as the RADIUS server name guests' profiles pin). It
// loads <dir>/<name>.crt and the encrypted <name>.key, or issues a fresh
// ECDSA P-256 certificate (EKU serverAuth, DNS SAN name) valid for lifetime
// when the files are missing, unreadable, for another name or CA, or within
// the last third of their life. The tls.Certificate carries the chain
// [leaf, intermediate] and Leaf.
func (a *Authority) ServerCertificate(ctx context.Context, name string, lifetime time.Duration) (tls.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return tls.Certificate{}, err
	}
	if err := checkServerName(name); err != nil {
		return tls.Certificate{}, err
	}
	if lifetime <= 0 {
		return tls.Certificate{}, fmt.Errorf("ca: server certificate lifetime %s must be positive", lifetime)
	}
	a.mu.Lock()
	defer a.mu.Unlock()

	crtPath := filepath.Join(a.dir, name+".crt")
	keyPath := filepath.Join(a.dir, name+".key")
	if cert, ok := a.loadServer(name, crtPath, keyPath); ok {
		return cert, nil
	}
	return a.issueServer(name, lifetime, crtPath, keyPath)
}

// loadServer returns the stored certificate when it can still be used.
func (a *Authority) loadServer(name, crtPath, keyPath string) (tls.Certificate, bool) {
	leaf, err := readCert(crtPath)
	if err != nil {
		return tls.Certificate{}, false
	}
	now := a.now()
	renewAt := leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3)
	if !slices.Contains(leaf.DNSNames, name) ||
		!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) ||
		leaf.CheckSignatureFrom(a.intermediate) != nil ||
		now.Before(leaf.NotBefore) || !now.Before(renewAt) {
		return tls.Certificate{}, false
	}
	key, err := readKey(keyPath, a.passphrase, leaf)
	if err != nil {
		return tls.Certificate{}, false
	}
	return a.tlsCertificate(leaf, key), true
}

func (a *Authority) issueServer(name string, lifetime time.Duration, crtPath, keyPath string) (tls.Certificate, error) {
	key, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ca: generating the key for %s: %w", name, err)
	}
	return a.issueStored("a certificate for "+name, &x509util.Certificate{
		Subject:     x509util.Subject{CommonName: name},
		DNSNames:    x509util.MultiString{name},
		KeyUsage:    x509util.KeyUsage(x509.KeyUsageDigitalSignature),
		ExtKeyUsage: x509util.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, key, lifetime, crtPath, keyPath)
}

// issueStored signs tmpl for key under the issuing CA — its serial,
// validity (lifetime from now, never past the issuing CA's end),
// organisation, public key and basic constraints filled in here — and
// stores the key, encrypted, and the certificate at keyPath and crtPath.
// The key is written first: a crash between the two writes leaves a key
// that does not match the old certificate, which the next start detects
// and repairs. what names the certificate in errors.
func (a *Authority) issueStored(what string, tmpl *x509util.Certificate, key crypto.Signer, lifetime time.Duration, crtPath, keyPath string) (tls.Certificate, error) {
	sn, err := serial(a.rand)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := a.now()
	notBefore := now.Add(-backdate)
	notAfter := now.Add(lifetime).Truncate(time.Second)
	if notAfter.After(a.intermediate.NotAfter) {
		notAfter = a.intermediate.NotAfter
	}
	if !notAfter.After(now) {
		return tls.Certificate{}, fmt.Errorf("ca: the issuing CA expires at %s; it cannot issue %s", a.intermediate.NotAfter.UTC().Format(time.RFC3339), what)
	}
	t := *tmpl
	t.Subject.Organization = a.intermediate.Subject.Organization
	t.SerialNumber = x509util.SerialNumber{Int: sn}
	t.NotBefore, t.NotAfter = notBefore, notAfter
	t.BasicConstraints = &x509util.BasicConstraints{IsCA: false, MaxPathLen: -1}
	t.PublicKey = key.Public()
	resp, err := a.cas.CreateCertificate(&apiv1.CreateCertificateRequest{
		Template: t.GetCertificate(),
		Lifetime: notAfter.Sub(notBefore),
	})
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ca: signing %s: %w", what, err)
	}
	leaf := resp.Certificate
	keyPEM, err := encodeKey(key, a.passphrase)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writeReplace(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeReplace(crtPath, encodeCert(leaf), 0o644); err != nil {
		os.Remove(keyPath)
		return tls.Certificate{}, err
	}
	return a.tlsCertificate(leaf, key), nil
}

func (a *Authority) tlsCertificate(leaf *x509.Certificate, key any) tls.Certificate {
	return tls.Certificate{
		Certificate: [][]byte{leaf.Raw, a.intermediate.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}
}
