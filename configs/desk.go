package configs

import (
	"net"
	"net/url"
	"time"
)

// DeskConfig configures the front-desk web app (package portal/desk): the
// staff's pages and the PMS's REST API on an HTTPS listener of their own,
// apart from the guest portal.
type DeskConfig struct {
	// Listen is the host:port of the desk's HTTPS listener. The desk runs
	// when it is set; the default "" leaves it off. Keep it off the
	// guests' onboarding network (a staff VLAN, or loopback behind a
	// VPN).
	Listen string `yaml:"listen"`
	// URL is the desk's public HTTPS address, the root of a host
	// ("https://desk.hotel.example/"). Default: https:// and Listen (with
	// 127.0.0.1 for an empty host).
	URL string `yaml:"url"`
	// TLSCertFile and TLSKeyFile are the hotel's certificate (PEM, with
	// its chain) and key for URL's host, re-read when they change. Both
	// unset: a certificate from Keycard's own CA, as for the portal.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// IdleTimeout logs a member of staff out after this long without a
	// request (default 30m, 1m to 24h); SessionLifetime ends a login this
	// long after it began however busy (default 12h, a shift; up to 7
	// days).
	IdleTimeout     Duration `yaml:"idle_timeout"`
	SessionLifetime Duration `yaml:"session_lifetime"`
}

// Defaults of the desk section.
const (
	DefaultDeskIdleTimeout     = 30 * time.Minute
	DefaultDeskSessionLifetime = 12 * time.Hour
)

// Enabled reports whether the desk should be served.
func (d DeskConfig) Enabled() bool { return d.Listen != "" }

// validateDesk fills the desk section's defaults and checks it. The
// defaults and relative paths are done here rather than in Init, so that
// the section stays in this file.
func (c *Config) validateDesk(v *validator) {
	d := &c.Desk
	d.TLSCertFile = c.resolve(d.TLSCertFile)
	d.TLSKeyFile = c.resolve(d.TLSKeyFile)
	dur(&d.IdleTimeout, DefaultDeskIdleTimeout)
	dur(&d.SessionLifetime, DefaultDeskSessionLifetime)
	v.durRange("desk.idle_timeout", d.IdleTimeout, time.Minute, 24*time.Hour)
	v.durRange("desk.session_lifetime", d.SessionLifetime, time.Hour, 7*24*time.Hour)
	if d.IdleTimeout.Duration > d.SessionLifetime.Duration {
		v.bad("desk.idle_timeout", "%s is longer than desk.session_lifetime (%s); make it shorter", short(d.IdleTimeout.Duration), short(d.SessionLifetime.Duration))
	}
	if d.Listen == "" {
		if d.URL != "" || d.TLSCertFile != "" || d.TLSKeyFile != "" {
			v.bad("desk.listen", "is empty but other desk settings are set; set desk.listen (e.g. \"127.0.0.1:8444\") to run the desk, or remove the desk section")
		}
		return
	}
	v.listen("desk.listen", d.Listen)
	for path, other := range map[string]string{"portal.listen": c.Portal.Listen, "portal.http_listen": c.Portal.HTTPListen, "metrics.listen": c.Metrics.Listen} {
		if other != "" && other == d.Listen {
			v.bad("desk.listen", "%q is also %s; give the desk a port of its own", d.Listen, path)
		}
	}
	if d.URL == "" {
		if host, port, err := net.SplitHostPort(d.Listen); err == nil {
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			d.URL = "https://" + net.JoinHostPort(host, port) + "/"
		}
	}
	if u, err := url.Parse(d.URL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		(u.Path != "" && u.Path != "/") {
		v.bad("desk.url", "%q must be a bare https address like \"https://desk.hotel.example/\"", d.URL)
	} else if u.Hostname() == "" {
		v.bad("desk.url", "%q has no host", d.URL)
	} else if pu, err := url.Parse(c.Portal.URL); err == nil && c.Portal.Enabled() && pu.Host == u.Host {
		v.bad("desk.url", "%q is the guest portal's address too; the desk needs a host or port of its own (its cookies must not reach guests' pages)", d.URL)
	}
	switch {
	case d.TLSCertFile != "" && d.TLSKeyFile == "":
		v.bad("desk.tls_key_file", "is empty but desk.tls_cert_file is set; give the certificate's key file too (or neither, for a certificate from Keycard's CA)")
	case d.TLSCertFile == "" && d.TLSKeyFile != "":
		v.bad("desk.tls_cert_file", "is empty but desk.tls_key_file is set; give the certificate file too (or neither, for a certificate from Keycard's CA)")
	case d.TLSCertFile != "" && d.TLSCertFile == d.TLSKeyFile:
		v.bad("desk.tls_key_file", "is the same file as desk.tls_cert_file; give the key and the certificate as two files")
	}
}
