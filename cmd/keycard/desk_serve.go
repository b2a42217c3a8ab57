package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"keycard/ca"
	"keycard/portal"
	"keycard/portal/api"
	"keycard/portal/desk"
	"keycard/radiusd"
	"keycard/sessions"
	"keycard/staff"
	"keycard/vouchers"
)

// newDesk builds the front desk (its pages and the PMS's REST API at
// /api/v1) from the config and binds its listener, or returns nil when
// desk.listen is empty. The staff store gets the secret box (the CA
// passphrase): logins read TOTP secrets.
func newDesk(ctx context.Context, e *env, a *ca.Authority, vs *vouchers.Store, online *sessions.Store, enforcer *radiusd.Enforcer) (*desk.Desk, error) {
	dc := e.cfg.Desk
	if !dc.Enabled() {
		return nil, nil
	}
	var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	if dc.TLSCertFile != "" {
		fc, err := portal.LoadFileCertificate(dc.TLSCertFile, dc.TLSKeyFile, e.now, e.log)
		if err != nil {
			return nil, fmt.Errorf("desk.tls_cert_file: %w", err)
		}
		getCert = fc.GetCertificate
	} else {
		hosts := portalHosts(dc.URL, "")
		rc, err := portal.NewRenewingCertificate(ctx, func(ctx context.Context) (tls.Certificate, error) {
			return a.PortalCertificate(ctx, hosts, e.cfg.CA.ServerLifetime.Duration)
		}, e.now, e.log)
		if err != nil {
			return nil, fmt.Errorf("desk certificate: %w", err)
		}
		getCert = rc.GetCertificate
	}
	box, err := e.secrets(ctx)
	if err != nil {
		return nil, err
	}
	ss, err := staff.New(e.db, staff.Options{
		Audit: vs, Box: box, Issuer: e.cfg.WiFi.HotelName,
		IdleTimeout: dc.IdleTimeout.Duration, SessionLifetime: dc.SessionLifetime.Duration,
		Now: e.now, Logger: e.log,
	})
	if err != nil {
		return nil, err
	}
	policies := make([]string, 0, len(e.cfg.Policies))
	for name := range e.cfg.Policies {
		policies = append(policies, name)
	}
	slices.Sort(policies)
	if i := slices.Index(policies, "standard"); i > 0 {
		policies = append(append([]string{"standard"}, policies[:i]...), policies[i+1:]...)
	}
	apiHandler, err := api.New(api.Options{
		Tokens: ss, Hotel: vs, Sessions: online, DB: e.db,
		Kicker: api.KickerFunc(func(ctx context.Context, s sessions.Session, reason string) (api.KickResult, error) {
			res, err := enforcer.Kick(ctx, s, reason)
			return api.KickResult{Outcome: string(res.Outcome), ErrorCause: res.ErrorCause, Attempts: res.Attempts}, err
		}),
		DefaultPolicy: policies[0], Now: e.now, Logger: e.log,
	})
	if err != nil {
		return nil, err
	}
	d, err := desk.New(desk.Config{
		URL:            dc.URL,
		Listen:         dc.Listen,
		GetCertificate: getCert,
		PortalURL:      e.cfg.Portal.URL,
		HotelName:      e.cfg.WiFi.HotelName,
		SSID:           e.cfg.WiFi.SSID,
		Policies:       policies,
	}, desk.Deps{Staff: ss, Hotel: vs, Sessions: online, API: apiHandler, Logger: e.log, Now: e.now})
	if err != nil {
		return nil, err
	}
	if err := d.Listen(); err != nil {
		return nil, err
	}
	return d, nil
}

// deskURL is the desk's URL for the log, or "off".
func deskURL(e *env) string {
	if !e.cfg.Desk.Enabled() {
		return "off"
	}
	return e.cfg.Desk.URL
}

// printDemoDesk tells the try-out where the front desk answers and how to
// get an account there.
func printDemoDesk(w io.Writer, e *env) {
	dc := e.cfg.Desk
	if !dc.Enabled() {
		line(w, "  Front desk: off (desk.listen is empty)")
		return
	}
	line(w, "  Front desk: %s  (REST API for the PMS at %sapi/v1/)", dc.URL, dc.URL)
	line(w, "    Make an account first, then log in and set up TOTP with an authenticator app:")
	line(w, "    %s --config %s staff add --name admin --role admin", os.Args[0], e.configPath)
	if dc.TLSCertFile == "" {
		line(w, "    Its certificate is from Keycard's own CA (%s): expect a browser warning.", filepath.Join(e.cfg.CA.Dir, "root.crt"))
	}
}
