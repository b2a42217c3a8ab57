package radiusd

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// DefaultDASPort is the Dynamic Authorization Server port (RFC 5176) of a
// NAS when none is given.
const DefaultDASPort = 3799

// Shared secret bounds. RFC 2865 asks for at least 16 octets; longer random
// secrets are what protects a NAS that cannot send Message-Authenticator.
const (
	MinSecretLength       = 16
	MaxSecretLength       = 128
	GeneratedSecretLength = 32
)

// ErrDuplicateNAS is returned by NASStore.Add when a NAS with the same name
// or the identical network exists.
var ErrDuplicateNAS = errors.New("radiusd: a NAS with this name or network already exists")

// ErrUnknownNAS is returned by NASStore.Remove when no NAS has the name.
var ErrUnknownNAS = errors.New("radiusd: no such NAS")

// A NAS is an access point or controller allowed to send RADIUS requests:
// requests from an address inside Network are checked with Secret.
type NAS struct {
	ID      int64
	Name    string       // e.g. "ap-lobby"
	Network netip.Prefix // a single address (/32, /128) or a management subnet
	// Secret is the RADIUS shared secret. NASStore.Add returns it (generated
	// when empty) once; List leaves it empty; Lookup carries it for the server.
	Secret  []byte
	DASPort int // where the NAS listens for Disconnect-Request; 0 means DefaultDASPort
	// DASAddress is where Disconnect-Request and CoA-Request go. The zero
	// Addr means the address the session's accounting came from, which is
	// what a NAS whose Network is a whole management subnet of access
	// points needs; set it for a controller that answers for its APs.
	DASAddress netip.Addr
	// Profile names the DAS/policy profile (see Profiles): which session
	// identifiers a Disconnect carries, the CoA port, how a stay's VLAN and
	// bandwidth are written into an Access-Accept. Empty means
	// DefaultProfile.
	Profile string
	// CoA says the NAS accepts CoA-Request. Off by default: many access
	// points ignore CoA but honour Disconnect (hostapd answers a CoA with
	// Session-Timeout with a NAK).
	CoA bool
	// CoAPort is where CoA-Request goes; 0 means the profile's choice
	// (DASPort for rfc5176, 1700 for cisco-wlc and meraki).
	CoAPort int
	// AllowMissingMessageAuthenticator accepts Access-Requests without
	// Message-Authenticator from this NAS (requests with EAP-Message and
	// Status-Server still need it). It is an opt-out so that the zero value
	// is the safe one (BlastRADIUS, CVE-2024-3596); using it is logged as a
	// warning at every load.
	AllowMissingMessageAuthenticator bool
	CreatedAt                        time.Time
}

var nasName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ParseNetwork reads a NAS source as the admin types it: an address
// ("10.0.0.5", "2001:db8::5") for one NAS, or a network in CIDR notation
// ("10.0.0.0/24") for a management subnet of access points.
func ParseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("radiusd: network %q is not an address or a CIDR network like 10.0.0.0/24", s)
		}
		return checkNetwork(p)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("radiusd: network %q is not an address or a CIDR network like 10.0.0.0/24", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("radiusd: network %q: drop the zone (%%%s)", s, a.Zone())
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// checkNetwork validates a prefix: no host bits, IPv4-mapped addresses
// turned into IPv4.
func checkNetwork(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, errors.New("radiusd: NAS network is missing or invalid")
	}
	a := p.Addr()
	if a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("radiusd: network %s mixes IPv4 and IPv6", p)
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("radiusd: network %s has host bits set; did you mean %s?", p, m)
	}
	return p, nil
}

// validate checks n as given to Add and fills defaults.
func (n *NAS) validate() error {
	if !nasName.MatchString(n.Name) {
		return fmt.Errorf("radiusd: NAS name %q: use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", n.Name)
	}
	p, err := checkNetwork(n.Network)
	if err != nil {
		return err
	}
	n.Network = p
	if n.DASPort == 0 {
		n.DASPort = DefaultDASPort
	}
	if n.DASPort < 1 || n.DASPort > 65535 {
		return fmt.Errorf("radiusd: DAS port %d: use 1..65535 (default %d)", n.DASPort, DefaultDASPort)
	}
	if n.DASAddress.IsValid() {
		a := n.DASAddress.Unmap()
		switch {
		case a.Zone() != "":
			return fmt.Errorf("radiusd: DAS address %s: drop the zone (%%%s)", a, a.Zone())
		case a.IsUnspecified() || a.IsMulticast():
			return fmt.Errorf("radiusd: DAS address %s: give the access point's or controller's own address", a)
		}
		n.DASAddress = a
	}
	if n.Profile == "" {
		n.Profile = DefaultProfile
	}
	if _, err := ProfileByName(n.Profile); err != nil {
		return err
	}
	if n.CoAPort < 0 || n.CoAPort > 65535 {
		return fmt.Errorf("radiusd: CoA port %d: use 1..65535, or 0 for the profile's choice", n.CoAPort)
	}
	if n.CoAPort != 0 && !n.CoA {
		return fmt.Errorf("radiusd: CoA port %d given for a NAS that does not accept CoA-Request: enable CoA too", n.CoAPort)
	}
	if len(n.Secret) > 0 && (len(n.Secret) < MinSecretLength || len(n.Secret) > MaxSecretLength) {
		return fmt.Errorf("radiusd: shared secret of %d characters: use %d..%d (or leave it empty to generate one)",
			len(n.Secret), MinSecretLength, MaxSecretLength)
	}
	return nil
}

const secretAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

// generateSecret returns n printable characters from rand, without
// look-alike characters so an admin can type it into an access point.
func generateSecret(rand io.Reader, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, 64)
	// Rejection sampling keeps every character equally likely.
	limit := 256 - 256%len(secretAlphabet)
	for len(out) < n {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("radiusd: generate secret: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, secretAlphabet[int(b)%len(secretAlphabet)])
			}
		}
	}
	return out, nil
}
