package portal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often, at most, a handshake makes
// FileCertificate look at the files (two stat calls) or
// RenewingCertificate at the clock.
const certCheckInterval = 5 * time.Second

// FileCertificate serves the hotel's certificate from a certificate file
// (PEM, leaf first, then its chain) and a key file, and picks up new
// files within seconds of their change (an ACME client renewing them):
// the first handshake after certCheckInterval compares the files'
// modification times and sizes, and reloads when they differ. A file
// that does not load (half written, key not matching) is logged and the
// certificate in use stays.
type FileCertificate struct {
	certFile, keyFile string
	now               func() time.Time
	log               *slog.Logger

	mu       sync.Mutex
	cert     *tls.Certificate
	stamp    [2]fileStamp
	lastLook time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// LoadFileCertificate loads the pair; it fails, naming the files, when
// they do not load.
func LoadFileCertificate(certFile, keyFile string, now func() time.Time, log *slog.Logger) (*FileCertificate, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FileCertificate{certFile: certFile, keyFile: keyFile, now: now, log: log}
	stamp, err := f.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := f.load()
	if err != nil {
		return nil, err
	}
	f.cert, f.stamp, f.lastLook = cert, stamp, now()
	return f, nil
}

func (f *FileCertificate) stamps() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, name := range []string{f.certFile, f.keyFile} {
		info, err := os.Stat(name)
		if err != nil {
			return s, fmt.Errorf("portal: TLS certificate: %w", err)
		}
		s[i] = fileStamp{mod: info.ModTime(), size: info.Size()}
	}
	return s, nil
}

func (f *FileCertificate) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return nil, fmt.Errorf("portal: TLS certificate %s with key %s: %w", f.certFile, f.keyFile, err)
	}
	if now := f.now(); !now.Before(cert.Leaf.NotAfter) {
		f.log.Warn("portal TLS certificate has expired", "file", f.certFile, "not_after", cert.Leaf.NotAfter)
	}
	return &cert, nil
}

// GetCertificate is for tls.Config.
func (f *FileCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Sub(f.lastLook) >= certCheckInterval {
		f.lastLook = now
		f.reloadLocked()
	}
	return f.cert, nil
}

func (f *FileCertificate) reloadLocked() {
	stamp, err := f.stamps()
	if err != nil {
		f.log.Warn("portal TLS certificate files unreadable; keeping the one in use", "err", err)
		return
	}
	if stamp == f.stamp {
		return
	}
	cert, err := f.load()
	if err != nil {
		// Perhaps half written: try again at the next look.
		f.log.Warn("portal TLS certificate changed but does not load; keeping the one in use", "err", err)
		return
	}
	f.cert, f.stamp = cert, stamp
	f.log.Info("portal TLS certificate reloaded", "file", f.certFile, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
}

// RenewingCertificate serves a certificate that issue makes (Keycard's
// CA, for a closed lab) and asks issue again once two thirds of its life
// have passed, when the CA renews it; a failed renewal is logged, tried
// again a minute later, and the certificate in use stays.
type RenewingCertificate struct {
	issue func(context.Context) (tls.Certificate, error)
	now   func() time.Time
	log   *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	renewAt   time.Time
	nextTryAt time.Time
}

// NewRenewingCertificate issues the first certificate.
func NewRenewingCertificate(ctx context.Context, issue func(context.Context) (tls.Certificate, error), now func() time.Time, log *slog.Logger) (*RenewingCertificate, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &RenewingCertificate{issue: issue, now: now, log: log}
	cert, err := issue(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.setLocked(cert); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *RenewingCertificate) setLocked(cert tls.Certificate) error {
	if cert.Leaf == nil {
		return errors.New("portal: issued certificate has no Leaf")
	}
	life := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore)
	c.cert = &cert
	c.renewAt = cert.Leaf.NotBefore.Add(life * 2 / 3)
	return nil
}

// GetCertificate is for tls.Config.
func (c *RenewingCertificate) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !now.Before(c.renewAt) && !now.Before(c.nextTryAt) {
		c.nextTryAt = now.Add(time.Minute)
		ctx := context.Background()
		if hello != nil {
			ctx = hello.Context()
		}
		cert, err := c.issue(ctx)
		if err == nil {
			err = c.setLocked(cert)
		}
		if err != nil {
			c.log.Error("portal TLS certificate renewal failed; the current one stays in use", "err", err, "not_after", c.cert.Leaf.NotAfter)
		} else {
			c.log.Info("portal TLS certificate renewed", "not_after", cert.Leaf.NotAfter)
		}
	}
	return c.cert, nil
}
