package ca

import (
	"context"

	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/smallstep/certificates/cas/apiv1"
	"github.com/smallstep/certificates/cas/softcas"
	"go.step.sm/crypto/keyutil"
	"go.step.sm/crypto/x509util"
)

// Default lifetimes of a new CA.
const (
	DefaultRootLifetime         = 20 * 365 * 24 * time.Hour
	DefaultIntermediateLifetime = 10 * 365 * 24 * time.Hour
	DefaultOrganization         = "Keycard Hotel"
	// backdate is how far before "now" certificates start, so that an
	// access point or phone whose clock runs a little slow accepts them.
	backdate = 5 * time.Minute
)

// InitOptions configures a new CA. Zero values take the defaults.
type InitOptions struct {
	Organization         string        // subject O of every certificate; default "Keycard Hotel"
	RootLifetime         time.Duration // default 20 years
	IntermediateLifetime time.Duration // default 10 years; at most RootLifetime
	Now                  func() time.Time
	Rand                 io.Reader // serial numbers and signatures; default crypto/rand
}

// Init creates a CA in dir: an ECDSA P-256 root, an issuing intermediate
// (path length 0) signed by it, and their keys encrypted with passphrase. It
// returns ErrExists if dir already holds any CA file, and never leaves half
// a CA behind: on failure every file it wrote is removed.
func Init(ctx context.Context, dir string, passphrase []byte, opts InitOptions) (*Authority, error) {
	if opts.Organization == "" {
		opts.Organization = DefaultOrganization
	}
	if opts.RootLifetime == 0 {
		opts.RootLifetime = DefaultRootLifetime
	}
	if opts.IntermediateLifetime == 0 {
		opts.IntermediateLifetime = DefaultIntermediateLifetime
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	switch {
	case len(passphrase) == 0:
		return nil, errors.New("ca: the CA passphrase is empty; the keys must be encrypted")
	case opts.RootLifetime < 0 || opts.IntermediateLifetime < 0:
		return nil, errors.New("ca: lifetimes must be positive")
	case opts.IntermediateLifetime > opts.RootLifetime:
		return nil, fmt.Errorf("ca: the intermediate lifetime (%s) is longer than the root's (%s)", opts.IntermediateLifetime, opts.RootLifetime)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	for _, name := range caFiles {
		ok, err := exists(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if ok {
			return nil, fmt.Errorf("%w in %s (%s is there); Keycard will not overwrite it", ErrExists, dir, name)
		}
	}

	// Make everything in memory first, so that a failure writes nothing.
	now := opts.Now()
	rootKey, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		return nil, fmt.Errorf("ca: generating the root key: %w", err)
	}
	rootSerial, err := serial(opts.Rand)
	if err != nil {
		return nil, err
	}
	rootTmpl := &x509.Certificate{
		SerialNumber:          rootSerial,
		Subject:               pkix.Name{CommonName: opts.Organization + " Root CA", Organization: []string{opts.Organization}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(opts.RootLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	root, err := x509util.CreateCertificate(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("ca: signing the root: %w", err)
	}

	interKey, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		return nil, fmt.Errorf("ca: generating the intermediate key: %w", err)
	}
	interSerial, err := serial(opts.Rand)
	if err != nil {
		return nil, err
	}
	rootCAS, err := softcas.New(ctx, apiv1.Options{CertificateChain: []*x509.Certificate{root}, Signer: rootKey})
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	resp, err := rootCAS.CreateCertificate(&apiv1.CreateCertificateRequest{
		Template: &x509.Certificate{
			SerialNumber:          interSerial,
			Subject:               pkix.Name{CommonName: opts.Organization + " Wi-Fi CA", Organization: []string{opts.Organization}},
			PublicKey:             interKey.Public(),
			NotBefore:             now.Add(-backdate),
			NotAfter:              now.Add(opts.IntermediateLifetime),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLen:            0,
			MaxPathLenZero:        true,
		},
		Lifetime: opts.IntermediateLifetime + backdate,
	})
	if err != nil {
		return nil, fmt.Errorf("ca: signing the intermediate: %w", err)
	}
	inter := resp.Certificate

	rootKeyPEM, err := encodeKey(rootKey, passphrase)
	if err != nil {
		return nil, err
	}
	interKeyPEM, err := encodeKey(interKey, passphrase)
	if err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{rootKeyFile, rootKeyPEM, 0o600},
		{intermediateKeyFile, interKeyPEM, 0o600},
		{intermediateCertFile, encodeCert(inter), 0o644},
		{rootCertFile, encodeCert(root), 0o644},
	}
	var written []string
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			removeAll(dir, written)
			return nil, err
		}
		if err := writeNew(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			removeAll(dir, written)
			return nil, err
		}
		written = append(written, f.name)
	}
	return newAuthority(ctx, dir, root, inter, interKey, passphrase, WithNow(opts.Now), WithRand(opts.Rand))
}
