package ca

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.step.sm/crypto/keyutil"
	"go.step.sm/crypto/pemutil"
)

// File names in the CA folder.
const (
	rootCertFile         = "root.crt"
	rootKeyFile          = "root.key"
	intermediateCertFile = "intermediate.crt"
	intermediateKeyFile  = "intermediate.key"
	crlNumberFile        = "crlnumber"
)

// caFiles are the files that make up a CA; Init writes all or none of them.
var caFiles = [...]string{rootCertFile, rootKeyFile, intermediateCertFile, intermediateKeyFile}

// encodeKey serialises a private key as PKCS#8 encrypted with the
// passphrase (PBES2: PBKDF2 + AES-256-CBC).
func encodeKey(key crypto.PrivateKey, passphrase []byte) ([]byte, error) {
	block, err := pemutil.Serialize(key, pemutil.WithPassword(passphrase), pemutil.WithPKCS8(true))
	if err != nil {
		return nil, fmt.Errorf("ca: encrypting key: %w", err)
	}
	return pem.EncodeToMemory(block), nil
}

// readKey decrypts the key in path and checks it belongs to cert. Any
// failure to decrypt or parse an encrypted key is a wrong passphrase: with
// CBC padding a wrong key is usually caught as bad padding, and otherwise
// yields noise that does not parse or does not match the certificate.
func readKey(path string, passphrase []byte, cert *x509.Certificate) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("ca: %s holds no PEM block", path)
	}
	if block.Type != "ENCRYPTED PRIVATE KEY" {
		return nil, fmt.Errorf("ca: %s is not an encrypted key (PEM type %q); keys must be encrypted at rest", path, block.Type)
	}
	key, err := pemutil.ParseKey(data, pemutil.WithPassword(passphrase), pemutil.WithFilename(path))
	if err != nil {
		return nil, fmt.Errorf("%w: it does not decrypt %s", ErrWrongPassphrase, path)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("ca: %s holds a %T, not a signing key", path, key)
	}
	if err := keyutil.VerifyPair(cert.PublicKey, signer); err != nil {
		return nil, fmt.Errorf("%w: %s does not match its certificate", ErrWrongPassphrase, path)
	}
	return signer, nil
}

func readCert(path string) (*x509.Certificate, error) {
	cert, err := pemutil.ReadCertificate(path)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	return cert, nil
}

func encodeCert(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// writeNew writes a file that must not exist yet: the data goes to a
// temporary file that is then hard-linked into place, so the file appears
// complete or not at all, and an existing file is never replaced.
func writeNew(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		return fmt.Errorf("ca: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// writeReplace atomically writes path, replacing it if it exists.
func writeReplace(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("ca: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func writeTemp(path string, data []byte, perm os.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("ca: %w", err)
	}
	name := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("ca: writing %s: %w", path, err)
	}
	return name, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ca: syncing %s: %w", dir, err)
	}
	return nil
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("ca: %w", err)
	}
}
