package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/smallstep/certificates/cas/apiv1"
	"github.com/smallstep/certificates/cas/softcas"
)

// Authority is an opened certificate authority: the root and intermediate
// certificates, and the intermediate's decrypted key behind a softcas
// signer. It is safe for concurrent use.
type Authority struct {
	dir          string
	root         *x509.Certificate
	intermediate *x509.Certificate
	signer       crypto.Signer // the intermediate's key
	cas          apiv1.CertificateAuthorityService
	passphrase   []byte // encrypts server keys written later
	now          func() time.Time
	rand         io.Reader

	mu sync.Mutex // serialises server certificate files and the CRL number
}

// Option configures Open.
type Option func(*Authority)

// WithNow sets the clock used for validity periods and renewal decisions.
// The default is time.Now.
func WithNow(now func() time.Time) Option {
	return func(a *Authority) {
		if now != nil {
			a.now = now
		}
	}
}

// WithRand sets the source of serial numbers and signature randomness. The
// default is crypto/rand.Reader. Keys are always generated from the
// operating system's randomness.
func WithRand(r io.Reader) Option {
	return func(a *Authority) {
		if r != nil {
			a.rand = r
		}
	}
}

// Open loads the CA in dir and decrypts its intermediate key with the
// passphrase. It returns ErrNotInitialised when dir holds no CA and
// ErrWrongPassphrase when the passphrase does not decrypt the key. The root
// key stays encrypted on disk.
func Open(ctx context.Context, dir string, passphrase []byte, opts ...Option) (*Authority, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var missing []string
	for _, name := range caFiles {
		ok, err := exists(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, name)
		}
	}
	switch {
	case len(missing) == len(caFiles):
		return nil, fmt.Errorf("%w in %s", ErrNotInitialised, dir)
	case len(missing) > 0:
		return nil, fmt.Errorf("ca: %s holds an incomplete certificate authority: %v missing; restore the folder from a backup", dir, missing)
	}
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("%w: the passphrase is empty", ErrWrongPassphrase)
	}
	root, err := readCert(filepath.Join(dir, rootCertFile))
	if err != nil {
		return nil, err
	}
	inter, err := readCert(filepath.Join(dir, intermediateCertFile))
	if err != nil {
		return nil, err
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		return nil, fmt.Errorf("ca: %s is not signed by %s: %w", intermediateCertFile, rootCertFile, err)
	}
	signer, err := readKey(filepath.Join(dir, intermediateKeyFile), passphrase, inter)
	if err != nil {
		return nil, err
	}
	return newAuthority(ctx, dir, root, inter, signer, passphrase, opts...)
}

func newAuthority(ctx context.Context, dir string, root, inter *x509.Certificate, signer crypto.Signer, passphrase []byte, opts ...Option) (*Authority, error) {
	cas, err := softcas.New(ctx, apiv1.Options{
		Type:             string(apiv1.SoftCAS),
		CertificateChain: []*x509.Certificate{inter, root},
		Signer:           signer,
	})
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	a := &Authority{
		dir:          dir,
		root:         root,
		intermediate: inter,
		signer:       signer,
		cas:          cas,
		passphrase:   append([]byte(nil), passphrase...),
		now:          time.Now,
		rand:         rand.Reader,
	}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Root returns the root certificate, the one guests' profiles pin.
func (a *Authority) Root() *x509.Certificate { return a.root }

// Intermediate returns the issuing certificate that signs device and server
// certificates.
func (a *Authority) Intermediate() *x509.Certificate { return a.intermediate }

// Chain returns [intermediate, root].
func (a *Authority) Chain() []*x509.Certificate {
	return []*x509.Certificate{a.intermediate, a.root}
}

// Pools returns fresh pools holding the root and the intermediate, for
// x509.VerifyOptions and tls.Config.ClientCAs.
func (a *Authority) Pools() (roots, intermediates *x509.CertPool) {
	roots, intermediates = x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(a.root)
	intermediates.AddCert(a.intermediate)
	return roots, intermediates
}

// Dir returns the folder holding the CA files.
func (a *Authority) Dir() string { return a.dir }

// serial returns a random positive serial number of at most 128 bits, as
// the CA/Browser Forum asks (at least 64 random bits).
func serial(r io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	for range 8 {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("ca: reading randomness for a serial number: %w", err)
		}
		b[0] &= 0x7f // positive in DER without a leading zero byte
		if n := new(big.Int).SetBytes(b); n.BitLen() > 64 {
			return n, nil
		}
	}
	return nil, errors.New("ca: the random source keeps returning small numbers")
}

// removeAll deletes the named files in dir, ignoring the missing ones.
func removeAll(dir string, names []string) {
	for _, name := range names {
		os.Remove(filepath.Join(dir, name))
	}
}
