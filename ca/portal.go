package ca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.step.sm/crypto/keyutil"
	"go.step.sm/crypto/x509util"
)

// Files of the portal's own HTTPS certificate. As with the RA's, the
// names have no dot before the extension, so no server name reaches them.
const (
	portalCertFile = "portal-https.crt"
	portalKeyFile  = "portal-https.key"
)

// PortalCertificate returns an HTTPS certificate for the guest portal
// from this CA, for hosts: DNS names and IP addresses, each written as a
// SAN of its kind (an IP-address URL such as https://127.0.0.1:8443/ needs
// an IP SAN, which ServerCertificate, being for names that profiles pin,
// does not write). It is for a closed lab and for trying Keycard out: only
// devices that trust this CA accept it, so a hotel's guests should get a
// certificate from a public CA (portal.tls_cert_file).
//
// Like ServerCertificate it loads <dir>/portal-https.crt and the encrypted
// portal-https.key, or issues a fresh ECDSA P-256 pair (EKU serverAuth, the
// first host as CommonName) valid for lifetime (capped at the
// intermediate's NotAfter) when the files are missing, unreadable, from
// another CA, for other hosts, or within the last third of their life.
// The tls.Certificate carries the chain [leaf, intermediate] and Leaf.
func (a *Authority) PortalCertificate(ctx context.Context, hosts []string, lifetime time.Duration) (tls.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return tls.Certificate{}, err
	}
	dnsNames, ips, err := portalHosts(hosts)
	if err != nil {
		return tls.Certificate{}, err
	}
	if lifetime <= 0 {
		return tls.Certificate{}, fmt.Errorf("ca: portal certificate lifetime %s must be positive", lifetime)
	}
	a.mu.Lock()
	defer a.mu.Unlock()

	crtPath := filepath.Join(a.dir, portalCertFile)
	keyPath := filepath.Join(a.dir, portalKeyFile)
	if cert, ok := a.loadPortal(dnsNames, ips, crtPath, keyPath); ok {
		return cert, nil
	}
	return a.issuePortal(hosts[0], dnsNames, ips, lifetime, crtPath, keyPath)
}

// portalHosts sorts hosts into DNS names (lower-case, fully qualified) and
// IP addresses, refusing anything else and duplicates.
func portalHosts(hosts []string) (dnsNames []string, ips []net.IP, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("ca: the portal certificate needs at least one host")
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if seen[h] {
			return nil, nil, fmt.Errorf("ca: portal host %q is listed twice", h)
		}
		seen[h] = true
		if addr, err := netip.ParseAddr(h); err == nil {
			ips = append(ips, net.IP(addr.Unmap().AsSlice()))
			continue
		}
		if err := checkServerName(h); err != nil {
			return nil, nil, fmt.Errorf("ca: portal host %q is neither an IP address nor a fully qualified lower-case DNS name", h)
		}
		dnsNames = append(dnsNames, h)
	}
	return dnsNames, ips, nil
}

func (a *Authority) loadPortal(dnsNames []string, ips []net.IP, crtPath, keyPath string) (tls.Certificate, bool) {
	leaf, err := readCert(crtPath)
	if err != nil {
		return tls.Certificate{}, false
	}
	now := a.now()
	renewAt := leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3)
	sameIPs := slices.EqualFunc(leaf.IPAddresses, ips, func(x, y net.IP) bool { return x.Equal(y) })
	if !slices.Equal(leaf.DNSNames, dnsNames) || !sameIPs ||
		!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) ||
		leaf.CheckSignatureFrom(a.intermediate) != nil ||
		now.Before(leaf.NotBefore) || !now.Before(renewAt) {
		return tls.Certificate{}, false
	}
	key, err := readKey(keyPath, a.passphrase, leaf)
	if err != nil {
		return tls.Certificate{}, false
	}
	return a.tlsCertificate(leaf, key), true
}

func (a *Authority) issuePortal(commonName string, dnsNames []string, ips []net.IP, lifetime time.Duration, crtPath, keyPath string) (tls.Certificate, error) {
	key, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ca: generating the portal key: %w", err)
	}
	return a.issueStored("the portal certificate", &x509util.Certificate{
		Subject:     x509util.Subject{CommonName: strings.TrimSuffix(strings.TrimPrefix(commonName, "["), "]")},
		DNSNames:    x509util.MultiString(dnsNames),
		IPAddresses: x509util.MultiIP(ips),
		KeyUsage:    x509util.KeyUsage(x509.KeyUsageDigitalSignature),
		ExtKeyUsage: x509util.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, key, lifetime, crtPath, keyPath)
}
