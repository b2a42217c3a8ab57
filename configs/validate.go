package configs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// FieldError is one problem with one field of the config, named by its YAML
// path ("radius.fragment_size").
type FieldError struct {
	Path    string
	Problem string // what is wrong and how to fix it
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Problem }

// Validate checks every field and returns errors.Join of one *FieldError per
// bad field, or nil. Call it after Init.
func (c *Config) Validate() error {
	v := &validator{}
	c.validate(v)
	if len(v.errs) == 0 {
		return nil
	}
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) bad(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
}

func (v *validator) intRange(path string, n, lo, hi int) {
	switch {
	case n < lo:
		v.bad(path, "%d is too small; use %d to %d", n, lo, hi)
	case n > hi:
		v.bad(path, "%d is too large; use %d to %d", n, lo, hi)
	}
}

func (v *validator) durRange(path string, d Duration, lo, hi time.Duration) {
	switch {
	case d.Duration < lo:
		v.bad(path, "%s is too short; use %s to %s", short(d.Duration), short(lo), short(hi))
	case d.Duration > hi:
		v.bad(path, "%s is too long; use %s to %s", short(d.Duration), short(lo), short(hi))
	}
}

func (v *validator) required(path, s string) bool {
	if strings.TrimSpace(s) == "" {
		v.bad(path, "must not be empty")
		return false
	}
	return true
}

// listen checks a host:port to listen on. The host must be empty (all
// addresses) or an IP address.
func (v *validator) listen(path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			v.bad(path, "%q has no port; write host:port like %q", addr, ":"+examplePort(path))
		} else {
			v.bad(path, "%q is not host:port; write it like %q or %q (IPv6 in brackets)", addr, "127.0.0.1:"+examplePort(path), "[::1]:"+examplePort(path))
		}
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		v.bad(path, "port %q of %q is not a number from 1 to 65535", port, addr)
		return
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			v.bad(path, "host %q of %q is not an IP address; use an IP address of this machine, or leave it empty (%q) for all of them", host, addr, ":"+port)
		}
	}
}

func examplePort(path string) string {
	switch {
	case strings.HasPrefix(path, "radius.auth_listen"):
		return "1812"
	case strings.HasPrefix(path, "radius.acct_listen"):
		return "1813"
	case strings.HasPrefix(path, "metrics"):
		return "9812"
	case path == "portal.listen":
		return "443"
	case path == "portal.http_listen":
		return "80"
	}
	return "8080"
}

func (v *validator) listenList(path string, addrs []string, allowEmpty bool) {
	if len(addrs) == 0 && !allowEmpty {
		v.bad(path, "needs at least one host:port to listen on")
	}
	seen := map[string]int{}
	for i, a := range addrs {
		p := fmt.Sprintf("%s[%d]", path, i)
		if j, dup := seen[a]; dup {
			v.bad(p, "%q is listed twice (also at %s[%d]); remove one", a, path, j)
			continue
		}
		seen[a] = i
		v.listen(p, a)
	}
}

var (
	// dnsLabel is one label of a host name (RFC 1123).
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	policyName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
)

// serverName checks a DNS name for a server certificate.
func (v *validator) serverName(path, name string) {
	if _, err := netip.ParseAddr(name); err == nil {
		v.bad(path, "%q is an IP address; use a DNS name like \"radius.hotel.example\" (Wi-Fi profiles pin a name, not an address)", name)
		return
	}
	labels := strings.Split(name, ".")
	if len(name) > 253 || len(labels) < 2 {
		v.bad(path, "%q is not a fully qualified DNS name; use one like \"radius.hotel.example\"", name)
		return
	}
	for _, l := range labels {
		if !dnsLabel.MatchString(l) {
			v.bad(path, "%q is not a valid DNS name (lower-case letters, digits, '-' and '.'); use one like \"radius.hotel.example\"", name)
			return
		}
	}
}

func (c *Config) validate(v *validator) {
	v.required("data_dir", c.DataDir)
	v.required("database.path", c.Database.Path)
	c.CA.validate(v)
	c.RADIUS.validate(v)
	if c.Metrics.Listen != "" {
		v.listen("metrics.listen", c.Metrics.Listen)
	}
	c.validatePortal(v)
	c.validateDesk(v)
	v.intRange("vouchers.max_failed_tries", c.Vouchers.MaxFailedTries, 1, 1000)
	v.intRange("vouchers.code_groups", c.Vouchers.CodeGroups, 3, 8)
	c.validatePolicies(v)
	c.validateWebhooks(v)
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		v.bad("log.level", "unknown level %q; use debug, info, warn or error", c.Log.Level)
	}
	switch strings.ToLower(c.Log.Format) {
	case "text", "json":
	default:
		v.bad("log.format", "unknown format %q; use text or json", c.Log.Format)
	}
}

const year = 365 * 24 * time.Hour

func (ca *CAConfig) validate(v *validator) {
	v.required("ca.dir", ca.Dir)
	v.required("ca.organization", ca.Organization)
	if ca.PassphraseEnv != "" && !envName.MatchString(ca.PassphraseEnv) {
		v.bad("ca.passphrase_env", "%q is not an environment variable name; it names the variable (like KEYCARD_CA_PASSPHRASE), it is not the passphrase itself", ca.PassphraseEnv)
	}
	v.durRange("ca.root_lifetime", ca.RootLifetime, year, 50*year)
	v.durRange("ca.intermediate_lifetime", ca.IntermediateLifetime, 30*24*time.Hour, 50*year)
	if ca.IntermediateLifetime.Duration > ca.RootLifetime.Duration {
		v.bad("ca.intermediate_lifetime", "%s is longer than ca.root_lifetime (%s); the issuing CA cannot outlive the root", short(ca.IntermediateLifetime.Duration), short(ca.RootLifetime.Duration))
	}
	// Apple refuses TLS server certificates valid for more than 825 days.
	v.durRange("ca.server_lifetime", ca.ServerLifetime, 24*time.Hour, 825*24*time.Hour)
	if v.required("ca.radius_server_name", ca.RADIUSServerName) {
		v.serverName("ca.radius_server_name", ca.RADIUSServerName)
	}
	if ca.PortalServerName != "" {
		v.serverName("ca.portal_server_name", ca.PortalServerName)
		if ca.PortalServerName == ca.RADIUSServerName {
			v.bad("ca.portal_server_name", "%q is also ca.radius_server_name; use a different name so the two certificates stay separate", ca.PortalServerName)
		}
	}
}

func (r *RADIUSConfig) validate(v *validator) {
	v.listenList("radius.auth_listen", r.AuthListen, false)
	v.intRange("radius.fragment_size", r.FragmentSize, 64, 3500) // 3500: an Access-Challenge must fit in 4096 bytes
	v.intRange("radius.max_message_size", r.MaxMessageSize, 4096, 1<<20)
	v.intRange("radius.max_rounds", r.MaxRounds, 4, 1000)
	lo, okLo := tlsVersions[strings.TrimSpace(r.TLSMinVersion)]
	hi, okHi := tlsVersions[strings.TrimSpace(r.TLSMaxVersion)]
	if !okLo {
		v.bad("radius.tls_min_version", "unknown TLS version %q; use \"1.2\" or \"1.3\"", r.TLSMinVersion)
	}
	if !okHi {
		v.bad("radius.tls_max_version", "unknown TLS version %q; use \"1.2\" or \"1.3\"", r.TLSMaxVersion)
	}
	if okLo && okHi && lo > hi {
		v.bad("radius.tls_min_version", "%s is above radius.tls_max_version %s; lower it or raise the maximum", r.TLSMinVersion, r.TLSMaxVersion)
	}
	if len(r.Curves) == 0 {
		v.bad("radius.curves", "needs at least one curve; use %s", curveNames)
	}
	seen := map[tls.CurveID]bool{}
	for i, name := range r.Curves {
		p := fmt.Sprintf("radius.curves[%d]", i)
		id, ok := curveByName(name)
		if !ok {
			v.bad("radius.curves", "unknown curve %q; use %s", name, curveNames)
			continue
		}
		if seen[id] {
			v.bad(p, "%q is listed twice; remove one", name)
		}
		seen[id] = true
	}
	v.durRange("radius.reject_delay", r.RejectDelay, 0, 10*time.Second)
	v.durRange("radius.acct_interim_interval", r.AcctInterimInterval, 60*time.Second, 24*time.Hour)
	v.intRange("radius.reply_cache_size", r.ReplyCacheSize, 16, 1<<20)
	v.durRange("radius.reply_cache_ttl", r.ReplyCacheTTL, time.Second, 5*time.Minute)
	v.intRange("radius.eap_sessions", r.EAPSessions, 1, 1<<20)
	v.durRange("radius.eap_timeout", r.EAPTimeout, 5*time.Second, 10*time.Minute)
	v.intRange("radius.workers", r.Workers, 1, 4096)
	v.listenList("radius.acct_listen", r.AcctListen, true)
	for i, a := range r.AcctListen {
		for _, b := range r.AuthListen {
			if a == b {
				v.bad(fmt.Sprintf("radius.acct_listen[%d]", i), "%q is also in radius.auth_listen; accounting needs its own port (1813)", a)
			}
		}
	}
	v.intRange("radius.acct_workers", r.AcctWorkers, 1, 16384)
	if r.MaxSessionTimeout.Duration != 0 {
		v.durRange("radius.max_session_timeout", r.MaxSessionTimeout, 5*time.Minute, 7*24*time.Hour)
	}
	v.intRange("radius.session_cache_size", r.SessionCacheSize, 100, 10_000_000)
	v.durRange("radius.das_timeout", r.DASTimeout, 100*time.Millisecond, 30*time.Second)
	v.intRange("radius.das_retries", r.DASRetries, 0, 10)
}

// validatePortal checks the portal and, when the portal is on, the Wi-Fi
// network its profiles describe.
func (c *Config) validatePortal(v *validator) {
	p := &c.Portal
	on := p.Enabled()
	if v.required("portal.url", p.URL) {
		v.portalURL(p.URL, on)
	}
	if p.Listen != "" {
		v.listen("portal.listen", p.Listen)
		if p.Listen == c.Metrics.Listen {
			v.bad("portal.listen", "%q is also metrics.listen; give the portal a port of its own (443)", p.Listen)
		}
	}
	if p.HTTPListen != "" {
		switch {
		case !on:
			v.bad("portal.http_listen", "is set but portal.listen is empty: it redirects to the HTTPS portal, so set portal.listen too (or remove portal.http_listen)")
		case p.HTTPListen == p.Listen:
			v.bad("portal.http_listen", "%q is also portal.listen; plain HTTP needs a port of its own (80)", p.HTTPListen)
		case p.HTTPListen == c.Metrics.Listen:
			v.bad("portal.http_listen", "%q is also metrics.listen; give it a port of its own (80)", p.HTTPListen)
		default:
			v.listen("portal.http_listen", p.HTTPListen)
		}
	}
	switch {
	case p.TLSCertFile != "" && p.TLSKeyFile == "":
		v.bad("portal.tls_key_file", "is empty but portal.tls_cert_file is set; give the certificate's key file too (or neither, for a certificate from Keycard's CA)")
	case p.TLSCertFile == "" && p.TLSKeyFile != "":
		v.bad("portal.tls_cert_file", "is empty but portal.tls_key_file is set; give the certificate file too (or neither, for a certificate from Keycard's CA)")
	case p.TLSCertFile != "" && p.TLSCertFile == p.TLSKeyFile:
		v.bad("portal.tls_key_file", "is the same file as portal.tls_cert_file; give the key and the certificate as two files")
	}
	v.durRange("portal.scep_challenge_lifetime", p.SCEPChallengeLifetime, time.Minute, 30*time.Minute)
	if on {
		c.WiFi.validate(v)
	}
}

// portalURL checks the URL guests are sent to. The portal serves TLS
// itself, so with the portal on it must be https: an http URL would
// send the plain-HTTP listener's redirect back to itself.
func (v *validator) portalURL(raw string, on bool) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		v.bad("portal.url", "%q is not an absolute URL; write it like \"https://wifi.hotel.example/\"", raw)
		return
	case u.Scheme != "http" && u.Scheme != "https":
		v.bad("portal.url", "%q must start with https://", raw)
		return
	case on && u.Scheme != "https":
		v.bad("portal.url", "%q must start with https:// when portal.listen is set: the portal serves guests over HTTPS only (plain HTTP only redirects there)", raw)
		return
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		v.bad("portal.url", "%q must be a bare address like \"https://wifi.hotel.example/\", without a user, query or fragment", raw)
		return
	case u.Path != "" && u.Path != "/":
		v.bad("portal.url", "%q has the path %q; the portal serves the root of its host, so write it like \"%s://%s/\"", raw, u.Path, u.Scheme, u.Host)
		return
	}
	host := u.Hostname()
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			v.bad("portal.url", "port %q of %q is not a number from 1 to 65535", port, raw)
			return
		}
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return // an address: fine for a closed lab (the CA's certificate gets an IP SAN)
	}
	if !isDNSName(host) {
		v.bad("portal.url", "host %q of %q is not a valid DNS name (lower-case letters, digits, '-' and '.') or IP address", host, raw)
	}
}

// isDNSName reports whether name is a fully qualified lower-case DNS name.
func isDNSName(name string) bool {
	labels := strings.Split(name, ".")
	if len(name) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !dnsLabel.MatchString(l) {
			return false
		}
	}
	return true
}

var (
	phoneNumber = regexp.MustCompile(`^\+?[0-9][0-9 ()./-]{2,30}$`)
	hexOI       = regexp.MustCompile(`^([0-9A-Fa-f]{6}|[0-9A-Fa-f]{10})$`)
)

func (w *WiFiConfig) validate(v *validator) {
	if v.required("wifi.ssid", w.SSID) {
		switch {
		case len(w.SSID) > 32:
			v.bad("wifi.ssid", "%q is %d bytes; an SSID has at most 32 (UTF-8 letters beyond ASCII take 2 to 4 each)", w.SSID, len(w.SSID))
		case !utf8.ValidString(w.SSID) || strings.IndexFunc(w.SSID, unicode.IsControl) >= 0:
			v.bad("wifi.ssid", "%q has control characters or is not valid UTF-8; write the network's name as the access points broadcast it", w.SSID)
		case strings.TrimSpace(w.SSID) != w.SSID:
			v.bad("wifi.ssid", "%q starts or ends with a space; devices match the SSID exactly, so write it as the access points broadcast it", w.SSID)
		}
	}
	v.text("wifi.hotel_name", w.HotelName, 64)
	if w.HelpdeskURL != "" {
		if u, err := url.Parse(w.HelpdeskURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			v.bad("wifi.helpdesk_url", "%q is not an absolute http(s) URL; write it like \"https://hotel.example/wifi-help\"", w.HelpdeskURL)
		}
	}
	if w.HelpdeskEmail != "" {
		if a, err := mail.ParseAddress(w.HelpdeskEmail); err != nil || a.Address != w.HelpdeskEmail {
			v.bad("wifi.helpdesk_email", "%q is not a bare e-mail address; write it like \"frontdesk@hotel.example\"", w.HelpdeskEmail)
		}
	}
	if w.HelpdeskPhone != "" && !phoneNumber.MatchString(w.HelpdeskPhone) {
		v.bad("wifi.helpdesk_phone", "%q is not a phone number; write digits, spaces and + ( ) - . / like \"+44 20 7946 0000\"", w.HelpdeskPhone)
	}
	if v.required("wifi.realm", w.Realm) && !isDNSName(w.Realm) {
		v.bad("wifi.realm", "%q is not a valid DNS domain (lower-case letters, digits, '-' and '.'); use the hotel's, like \"hotel.example\"", w.Realm)
	}
	pp := &w.Passpoint
	if !pp.Enabled {
		return
	}
	if v.required("wifi.passpoint.fqdn", pp.FQDN) && !isDNSName(pp.FQDN) {
		v.bad("wifi.passpoint.fqdn", "%q is not a valid DNS name; use the hotel's domain, like \"hotel.example\"", pp.FQDN)
	}
	v.text("wifi.passpoint.friendly_name", pp.FriendlyName, 64)
	if len(pp.RoamingConsortiumOIs) > 16 {
		v.bad("wifi.passpoint.roaming_consortium_ois", "lists %d OIs; list at most 16", len(pp.RoamingConsortiumOIs))
	}
	seen := map[string]int{}
	for i, oi := range pp.RoamingConsortiumOIs {
		path := fmt.Sprintf("wifi.passpoint.roaming_consortium_ois[%d]", i)
		if !hexOI.MatchString(oi) {
			v.bad(path, "%q is not an OI; write 6 or 10 hex digits (3 or 5 octets), like \"A1B2C3\"", oi)
			continue
		}
		if j, dup := seen[strings.ToUpper(oi)]; dup {
			v.bad(path, "%q is listed twice (also at [%d]); remove one", oi, j)
		}
		seen[strings.ToUpper(oi)] = i
	}
}

// text checks a name shown to guests: required, at most max characters,
// no control characters.
func (v *validator) text(path, s string, max int) {
	switch {
	case strings.TrimSpace(s) == "":
		v.bad(path, "must not be empty")
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		v.bad(path, "%q has control characters or is not valid UTF-8", s)
	case utf8.RuneCountInString(s) > max:
		v.bad(path, "%q is %d characters long; use at most %d", s, utf8.RuneCountInString(s), max)
	}
}

func (c *Config) validatePolicies(v *validator) {
	names := make([]string, 0, len(c.Policies))
	for name := range c.Policies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		pol := c.Policies[name]
		path := "policies." + name
		if !policyName.MatchString(name) {
			v.bad(path, "policy name %q must be 1 to 32 lower-case letters, digits, '-' or '_'", name)
		}
		if pol.VLAN != 0 && (pol.VLAN < 1 || pol.VLAN > 4094) {
			v.bad(path+".vlan", "%d is out of range; use 1 to 4094 (or 0 for no VLAN)", pol.VLAN)
		}
		const maxKbps = 100_000_000 // 100 Gbit/s
		if pol.BandwidthUpKbps < 0 || pol.BandwidthUpKbps > maxKbps {
			v.bad(path+".bandwidth_up_kbps", "%d is out of range; use 0 (unlimited) to %d", pol.BandwidthUpKbps, maxKbps)
		}
		if pol.BandwidthDownKbps < 0 || pol.BandwidthDownKbps > maxKbps {
			v.bad(path+".bandwidth_down_kbps", "%d is out of range; use 0 (unlimited) to %d", pol.BandwidthDownKbps, maxKbps)
		}
		if pol.MaxOnline < 0 || pol.MaxOnline > 50 {
			v.bad(path+".max_online", "%d is out of range; use 1 to 50 devices online at once (or 0 for no limit beyond the stay's device cap)", pol.MaxOnline)
		}
		switch pol.OverMaxOnline {
		case "", OverMaxOnlineReject, OverMaxOnlineDisconnectOldest: // "" is reject
		default:
			v.bad(path+".over_max_online", "unknown choice %q; use %q (refuse the new device) or %q (disconnect the stay's longest-online device)",
				pol.OverMaxOnline, OverMaxOnlineReject, OverMaxOnlineDisconnectOldest)
		}
	}
	if _, ok := c.Policies[DefaultPolicy]; !ok {
		v.bad("policies", "there is no %q policy; stays get it when none is chosen, so add policies.%s", DefaultPolicy, DefaultPolicy)
	}
}

// short writes a duration without trailing zero units ("720h", "10s").
func short(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%(365*24*time.Hour) == 0:
		return fmt.Sprintf("%dy", d/(365*24*time.Hour))
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	s = strings.Replace(s, "m0s", "m", 1)
	s = strings.Replace(s, "h0m", "h", 1)
	return s
}
