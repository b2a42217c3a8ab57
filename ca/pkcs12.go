package ca

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// PKCS12 packs a server-generated device key, its certificate and the CA
// chain into a password-protected PKCS#12 file for the guest to install.
//
// It uses the legacy encoding (3DES for the key and certificates, SHA-1 for
// the MAC, pkcs12.LegacyDES) on purpose: Android and macOS/iOS refuse the
// modern AES-256/PBKDF2 form with a misleading "wrong password" error. The
// password protects the file only while it travels to the device, which is
// why the weaker algorithms are acceptable here.
func PKCS12(key crypto.PrivateKey, leaf *x509.Certificate, chain []*x509.Certificate, password string) ([]byte, error) {
	switch {
	case key == nil:
		return nil, errors.New("ca: PKCS#12 needs the private key")
	case leaf == nil:
		return nil, errors.New("ca: PKCS#12 needs the certificate")
	case password == "":
		// Android will not import a PKCS#12 without a password.
		return nil, errors.New("ca: PKCS#12 needs a password")
	}
	pfx, err := pkcs12.LegacyDES.Encode(key, leaf, chain, password)
	if err != nil {
		return nil, fmt.Errorf("ca: encoding PKCS#12: %w", err)
	}
	return pfx, nil
}
