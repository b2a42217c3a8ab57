package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"keycard/ca"
	"keycard/portal"
	"keycard/portal/profiles"
	"keycard/portal/scep"
	"keycard/sessions"
	"keycard/vouchers"
)

// newPortal builds the guest portal from the config and binds its
// listeners, or returns nil when portal.listen is empty.
func newPortal(ctx context.Context, e *env, a *ca.Authority, vs *vouchers.Store, online *sessions.Store) (*portal.Portal, error) {
	pc, w := e.cfg.Portal, e.cfg.WiFi
	if !pc.Enabled() {
		return nil, nil
	}
	var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	if pc.TLSCertFile != "" {
		fc, err := portal.LoadFileCertificate(pc.TLSCertFile, pc.TLSKeyFile, e.now, e.log)
		if err != nil {
			return nil, fmt.Errorf("portal.tls_cert_file: %w", err)
		}
		getCert = fc.GetCertificate
	} else {
		hosts := portalHosts(pc.URL, e.cfg.CA.PortalServerName)
		rc, err := portal.NewRenewingCertificate(ctx, func(ctx context.Context) (tls.Certificate, error) {
			return a.PortalCertificate(ctx, hosts, e.cfg.CA.ServerLifetime.Duration)
		}, e.now, e.log)
		if err != nil {
			return nil, err
		}
		getCert = rc.GetCertificate
	}
	var scepHandler http.Handler
	if pc.UseSCEP() {
		ra, err := a.RACertificate(ctx, e.cfg.CA.ServerLifetime.Duration)
		if err != nil {
			return nil, err
		}
		if scepHandler, err = scep.New(scep.Options{RA: ra, CAChain: a.Chain(), Enroller: vs, Logger: e.log}); err != nil {
			return nil, err
		}
	}
	var pp *profiles.Passpoint
	if w.Passpoint.Enabled {
		pp = &profiles.Passpoint{FQDN: w.Passpoint.FQDN, FriendlyName: w.Passpoint.FriendlyName,
			RoamingConsortiumOIs: w.Passpoint.RoamingConsortiumOIs, Realm: w.Realm}
	}
	block := max(1, min(5, e.cfg.Vouchers.MaxFailedTries-1))
	p, err := portal.New(portal.Config{
		URL:            pc.URL,
		Listen:         pc.Listen,
		HTTPListen:     pc.HTTPListen,
		GetCertificate: getCert,
		Network: profiles.Network{
			SSID:              w.SSID,
			ServerName:        e.cfg.CA.RADIUSServerName,
			RootCA:            a.Root(),
			HotelName:         w.HotelName,
			HelpdeskURL:       w.HelpdeskURL,
			HelpdeskEmail:     w.HelpdeskEmail,
			HelpdeskPhone:     w.HelpdeskPhone,
			PayloadIdentifier: payloadIdentifier(w.Realm),
			Realm:             w.Realm,
		},
		Chain:                 a.Chain(),
		Passpoint:             pp,
		RoomLogin:             pc.RoomLogin,
		SCEP:                  pc.UseSCEP(),
		SCEPChallengeLifetime: pc.SCEPChallengeLifetime.Duration,
		// One address is blocked before it could lock a voucher on its
		// own (vouchers.max_failed_tries).
		RateLimit: portal.RateLimit{SlowAfter: min(3, block), BlockAfter: block},
	}, portal.Deps{Hotel: vs, Sessions: online, SCEP: scepHandler, Logger: e.log, Now: e.now})
	if err != nil {
		return nil, err
	}
	if err := p.Listen(); err != nil {
		return nil, err
	}
	return p, nil
}

// portalHosts are the names and addresses the CA's portal certificate
// covers: the URL's host, and ca.portal_server_name when set.
func portalHosts(portalURL, extra string) []string {
	var hosts []string
	if u, err := url.Parse(portalURL); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	if extra != "" && !slices.Contains(hosts, extra) {
		hosts = append(hosts, extra)
	}
	return hosts
}

// payloadIdentifier is the Apple profiles' stable identifier: the realm
// reversed, so "grandharbour.example" gives "example.grandharbour.wifi",
// and a new profile of the same hotel replaces the old one.
func payloadIdentifier(realm string) string {
	labels := strings.Split(realm, ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".") + ".wifi"
}

// portalURL is the portal's URL for the log, or "off".
func portalURL(e *env) string {
	if !e.cfg.Portal.Enabled() {
		return "off"
	}
	return e.cfg.Portal.URL
}

// printDemoPortal tells the try-out where the guest portal answers.
func printDemoPortal(w io.Writer, e *env, stay vouchers.Stay) {
	pc := e.cfg.Portal
	if !pc.Enabled() {
		line(w, "  Portal: off (portal.listen is empty); enrol a device with:")
		line(w, "    %s --config %s device enrol --stay %d --out ./my-device", os.Args[0], e.configPath, stay.ID)
		return
	}
	line(w, "  Portal: %s  (open it and enter the voucher code)", pc.URL)
	if pc.TLSCertFile == "" {
		line(w, "    Its certificate is from Keycard's own CA (%s), which browsers do not trust: expect a warning.",
			filepath.Join(e.cfg.CA.Dir, "root.crt"))
	}
	if pc.HTTPListen != "" {
		line(w, "    Plain HTTP, as a phone's captive-portal probe sees it: %s", httpProbeURL(pc.HTTPListen))
	}
}

// httpProbeURL is a URL of the plain-HTTP listener, for the demo output.
func httpProbeURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen + "/"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/hotspot-detect.html"
}
