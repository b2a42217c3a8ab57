package desk

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

type server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds the HTTPS listener (Config.Listen), so that a port in use
// fails at start, naming the setting.
func (d *Desk) Listen() error {
	if d.server != nil {
		return errors.New("desk: already listening")
	}
	if d.cfg.GetCertificate == nil {
		return errors.New("desk: no TLS certificate (Config.GetCertificate)")
	}
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("desk: HTTPS on %s (desk.listen): %w", d.cfg.Listen, err)
	}
	d.server = &server{ln: ln, srv: &http.Server{
		Handler: d.Handler(),
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: d.cfg.GetCertificate,
		},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       20 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}}
	return nil
}

// Addr is the bound address ("" before Listen), for tests on port 0.
func (d *Desk) Addr() string {
	if d.server == nil {
		return ""
	}
	return d.server.ln.Addr().String()
}

// Serve serves on the listener Listen bound until Shutdown, and then
// returns nil.
func (d *Desk) Serve() error {
	if d.server == nil {
		return errors.New("desk: Serve before Listen")
	}
	if err := d.server.srv.ServeTLS(d.server.ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("desk: HTTPS on %s: %w", d.server.ln.Addr(), err)
	}
	return nil
}

// Shutdown stops the listener and lets requests in flight finish (until
// ctx is done).
func (d *Desk) Shutdown(ctx context.Context) error {
	if d.server == nil {
		return nil
	}
	if err := d.server.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("desk: shutdown: %w", err)
	}
	return nil
}
