package portal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// servers are the two listeners once bound.
type servers struct {
	https, http     *http.Server
	httpsLn, httpLn net.Listener
}

// Listen binds the HTTPS listener (Config.Listen) and, when configured,
// the plain-HTTP one (Config.HTTPListen), so that a port in use fails at
// start, naming the setting.
func (p *Portal) Listen() error {
	if p.servers != nil {
		return errors.New("portal: already listening")
	}
	if p.cfg.GetCertificate == nil {
		return errors.New("portal: no TLS certificate (Config.GetCertificate)")
	}
	errLog := slog.NewLogLogger(p.log.Handler(), slog.LevelDebug) // TLS handshake noise from probes and scanners
	s := &servers{}
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return fmt.Errorf("portal: HTTPS on %s (portal.listen): %w", p.cfg.Listen, err)
	}
	s.httpsLn = ln
	s.https = &http.Server{
		Handler: p.Handler(),
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: p.cfg.GetCertificate,
		},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       20 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          errLog,
	}
	if p.cfg.HTTPListen != "" {
		ln, err := net.Listen("tcp", p.cfg.HTTPListen)
		if err != nil {
			s.httpsLn.Close()
			return fmt.Errorf("portal: HTTP on %s (portal.http_listen): %w", p.cfg.HTTPListen, err)
		}
		s.httpLn = ln
		s.http = &http.Server{
			Handler:           p.RedirectHandler(),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       30 * time.Second,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          errLog,
		}
	}
	p.servers = s
	return nil
}

// Addrs are the bound addresses (HTTP "" when off), for tests that listen
// on port 0.
func (p *Portal) Addrs() (https, http string) {
	if p.servers == nil {
		return "", ""
	}
	https = p.servers.httpsLn.Addr().String()
	if p.servers.httpLn != nil {
		http = p.servers.httpLn.Addr().String()
	}
	return https, http
}

// Serve serves on the listeners Listen bound until Shutdown, and then
// returns nil. If one listener fails, the other is closed too and the
// error returned.
func (p *Portal) Serve() error {
	s := p.servers
	if s == nil {
		return errors.New("portal: Serve before Listen")
	}
	var (
		wg   sync.WaitGroup
		once sync.Once
		errs = make([]error, 2)
	)
	stopAll := func() {
		once.Do(func() {
			s.https.Close()
			if s.http != nil {
				s.http.Close()
			}
		})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.https.ServeTLS(s.httpsLn, "", ""); !errors.Is(err, http.ErrServerClosed) {
			errs[0] = fmt.Errorf("portal: HTTPS on %s: %w", s.httpsLn.Addr(), err)
			stopAll()
		}
	}()
	if s.http != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.http.Serve(s.httpLn); !errors.Is(err, http.ErrServerClosed) {
				errs[1] = fmt.Errorf("portal: HTTP on %s: %w", s.httpLn.Addr(), err)
				stopAll()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Shutdown stops both listeners, lets requests in flight finish (until
// ctx is done), and forgets every pending download and sign-in.
func (p *Portal) Shutdown(ctx context.Context) error {
	defer p.downloads.clear()
	defer p.signIns.clear()
	s := p.servers
	if s == nil {
		return nil
	}
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, srv := range []*http.Server{s.https, s.http} {
		if srv == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("portal: shutdown: %w", err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
