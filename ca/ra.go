package ca

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"go.step.sm/crypto/keyutil"
	"go.step.sm/crypto/x509util"
)

// Files of the SCEP registration authority. The names have no dot before
// the extension, so no server name (which must have one) can reach them.
const (
	raCertFile = "scep-ra.crt"
	raKeyFile  = "scep-ra.key"
)

// raKeyBits is the size of the RA's RSA key: what Apple's SCEP client
// encrypts to, and the smallest size Keycard accepts from devices.
const raKeyBits = 2048

// raKeyUsage is what the RA does: sign CertRep messages and receive the
// content key of the devices' encrypted requests.
const raKeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment

// RACertificate returns the certificate and key of the SCEP registration
// authority: the portal's SCEP endpoint decrypts the devices' requests with
// it and signs its answers. SCEP (RFC 8894) encrypts a request to the
// server's certificate with RSA key transport, and Keycard's CA keys are
// ECDSA, so the RA has its own RSA 2048 key, issued by the intermediate
// (key usage digitalSignature and keyEncipherment, no extended key usage,
// subject "<organisation> SCEP RA").
//
// Like ServerCertificate it loads <dir>/scep-ra.crt and the encrypted
// scep-ra.key, or issues a fresh pair valid for lifetime (capped at the
// intermediate's NotAfter) when the files are missing, unreadable, from
// another CA, not what an RA needs, or within the last third of their life.
// The tls.Certificate carries the chain [RA, intermediate], Leaf, and the
// *rsa.PrivateKey (a crypto.Decrypter as well as a crypto.Signer).
//
// A renewed RA replaces the old one: a device that fetched the old RA
// certificate (GetCACert) just before the renewal has its request refused
// and retries. Call it when the portal starts.
func (a *Authority) RACertificate(ctx context.Context, lifetime time.Duration) (tls.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return tls.Certificate{}, err
	}
	if lifetime <= 0 {
		return tls.Certificate{}, fmt.Errorf("ca: SCEP RA certificate lifetime %s must be positive", lifetime)
	}
	a.mu.Lock()
	defer a.mu.Unlock()

	crtPath := filepath.Join(a.dir, raCertFile)
	keyPath := filepath.Join(a.dir, raKeyFile)
	if cert, ok := a.loadRA(crtPath, keyPath); ok {
		return cert, nil
	}
	return a.issueRA(lifetime, crtPath, keyPath)
}

// raCommonName is the RA's subject common name: the hotel's organisation
// (the intermediate's) and "SCEP RA".
func (a *Authority) raCommonName() string {
	org := DefaultOrganization
	if o := a.intermediate.Subject.Organization; len(o) > 0 && o[0] != "" {
		org = o[0]
	}
	return org + " SCEP RA"
}

// loadRA returns the stored RA when it can still be used.
func (a *Authority) loadRA(crtPath, keyPath string) (tls.Certificate, bool) {
	leaf, err := readCert(crtPath)
	if err != nil {
		return tls.Certificate{}, false
	}
	pub, isRSA := leaf.PublicKey.(*rsa.PublicKey)
	now := a.now()
	renewAt := leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3)
	if !isRSA || pub.N.BitLen() < raKeyBits ||
		leaf.KeyUsage&raKeyUsage != raKeyUsage || leaf.IsCA ||
		leaf.Subject.CommonName != a.raCommonName() ||
		!slices.Equal(leaf.Subject.Organization, a.intermediate.Subject.Organization) ||
		leaf.CheckSignatureFrom(a.intermediate) != nil ||
		now.Before(leaf.NotBefore) || !now.Before(renewAt) {
		return tls.Certificate{}, false
	}
	key, err := readKey(keyPath, a.passphrase, leaf)
	if err != nil {
		return tls.Certificate{}, false
	}
	if _, ok := key.(*rsa.PrivateKey); !ok {
		return tls.Certificate{}, false
	}
	return a.tlsCertificate(leaf, key), true
}

func (a *Authority) issueRA(lifetime time.Duration, crtPath, keyPath string) (tls.Certificate, error) {
	key, err := keyutil.GenerateSigner("RSA", "", raKeyBits)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ca: generating the SCEP RA key: %w", err)
	}
	return a.issueStored("the SCEP RA certificate", &x509util.Certificate{
		Subject:  x509util.Subject{CommonName: a.raCommonName()},
		KeyUsage: x509util.KeyUsage(raKeyUsage),
	}, key, lifetime, crtPath, keyPath)
}
