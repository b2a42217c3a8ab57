package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Options describe one load run. Server, Secret, Certificate, RootCAs and one
// of Count or Duration are required; the rest have defaults.
type Options struct {
	Server string // host:port of the RADIUS authentication listener
	Secret []byte // RADIUS shared secret of the NAS we pretend to be

	Concurrency int           // parallel workers (simulated devices); default 1
	Count       int           // total authentications to attempt; 0 = no count limit
	Duration    time.Duration // stop starting authentications after this; 0 = no time limit

	TLSVersion   uint16        // tls.VersionTLS12 or tls.VersionTLS13 (default), used as min and max
	Curves       []tls.CurveID // key exchange groups offered; nil = crypto/tls defaults
	Certificate  tls.Certificate
	RootCAs      *x509.CertPool
	ServerName   string // name checked in the server certificate
	FragmentSize int    // TLS bytes per EAP-TLS packet sent; default 1000
	Resume       bool   // one tls.ClientSessionCache per worker, so later authentications resume

	Timeout       time.Duration // wait for an answer before retransmitting; default 2s
	Retries       int           // retransmissions of one request before giving up; default 2
	MaxRounds     int           // Access-Requests per authentication before giving up; default 50
	NASIdentifier string        // NAS-Identifier; default "keycard-loadgen"
	Identity      string        // EAP identity and User-Name; default the client certificate's CommonName
	FramedMTU     int           // Framed-MTU sent to the server; default 1400

	// AllowLateMessageAuthenticator accepts answers whose (valid)
	// Message-Authenticator is not the first attribute, counting them in
	// Report.LateMessageAuthenticators instead of failing the
	// authentication. Servers without the BlastRADIUS (CVE-2024-3596) fix,
	// such as Debian's FreeRADIUS 3.2.1, put it last; set this only to
	// benchmark them.
	AllowLateMessageAuthenticator bool

	// AllowRemote lets Server be a non-loopback address. A load generator
	// pointed at a production server by mistake is an outage, so it is off
	// by default.
	AllowRemote bool

	// newPeer builds the supplicant; tests replace it. nil = eaptlstest.NewPeer.
	newPeer func(cfg *tls.Config, fragmentSize int, identity string) supplicant
}

// Defaults.
const (
	DefaultFragmentSize  = 1000
	DefaultTimeout       = 2 * time.Second
	DefaultRetries       = 2
	DefaultMaxRounds     = 50
	DefaultNASIdentifier = "keycard-loadgen"
	DefaultFramedMTU     = 1400
	maxConcurrency       = 1024
)

// withDefaults returns o with defaults filled in, or an error naming every
// bad field.
func (o Options) withDefaults() (Options, error) {
	if o.Concurrency == 0 {
		o.Concurrency = 1
	}
	if o.TLSVersion == 0 {
		o.TLSVersion = tls.VersionTLS13
	}
	if o.FragmentSize == 0 {
		o.FragmentSize = DefaultFragmentSize
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	if o.MaxRounds == 0 {
		o.MaxRounds = DefaultMaxRounds
	}
	if o.NASIdentifier == "" {
		o.NASIdentifier = DefaultNASIdentifier
	}
	if o.FramedMTU == 0 {
		o.FramedMTU = DefaultFramedMTU
	}
	if o.Identity == "" {
		o.Identity = "loadgen"
		if leaf := leafOf(o.Certificate); leaf != nil && leaf.Subject.CommonName != "" {
			o.Identity = leaf.Subject.CommonName
		}
	}

	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("loadgen: "+format, args...)) }
	if o.Server == "" {
		bad("server: missing")
	} else if err := checkServer(o.Server, o.AllowRemote); err != nil {
		bad("server: %w", err)
	}
	if len(o.Secret) == 0 {
		bad("secret: missing")
	}
	if o.Concurrency < 1 || o.Concurrency > maxConcurrency {
		bad("concurrency: %d is out of range; use 1..%d", o.Concurrency, maxConcurrency)
	}
	if o.Count < 0 || o.Duration < 0 {
		bad("count and duration must not be negative")
	}
	if o.Count == 0 && o.Duration == 0 {
		bad("count or duration: set at least one so the run ends by itself")
	}
	if o.TLSVersion != tls.VersionTLS12 && o.TLSVersion != tls.VersionTLS13 {
		bad("tls version: %#04x is not TLS 1.2 or 1.3", o.TLSVersion)
	}
	if len(o.Certificate.Certificate) == 0 || o.Certificate.PrivateKey == nil {
		bad("certificate: a client certificate with its key is required")
	}
	if o.RootCAs == nil {
		bad("root CAs: required to check the server certificate")
	}
	if o.ServerName == "" {
		bad("server name: required; it is the DNS name in the RADIUS server certificate")
	}
	if o.FragmentSize < 64 || o.FragmentSize > 4096 {
		bad("fragment size: %d is out of range; use 64..4096", o.FragmentSize)
	}
	if o.Timeout < 0 || o.Retries < 0 || o.MaxRounds < 1 {
		bad("timeout, retries and max rounds must be positive")
	}
	if o.FramedMTU < 64 || o.FramedMTU > 65535 {
		bad("framed MTU: %d is out of range", o.FramedMTU)
	}
	return o, errors.Join(errs...)
}

// checkServer accepts host:port with a literal IP; a non-loopback IP only
// with allowRemote. No DNS: the generator must hit exactly what it was given.
func checkServer(server string, allowRemote bool) error {
	ap, err := netip.ParseAddrPort(server)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(server)
		if splitErr == nil && host == "localhost" {
			return fmt.Errorf("%q: use 127.0.0.1 or [::1], not a name", server)
		}
		return fmt.Errorf("%q: want IP:port: %w", server, err)
	}
	if !ap.Addr().IsLoopback() && !allowRemote {
		return fmt.Errorf("%s is not a loopback address", ap.Addr())
	}
	return nil
}

// leafOf returns the parsed leaf of c, or nil.
func leafOf(c tls.Certificate) *x509.Certificate {
	if c.Leaf != nil {
		return c.Leaf
	}
	if len(c.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// tlsConfig is the client TLS configuration shared by one worker's
// authentications (and its session cache).
func (o Options) tlsConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion:       o.TLSVersion,
		MaxVersion:       o.TLSVersion,
		Certificates:     []tls.Certificate{o.Certificate},
		RootCAs:          o.RootCAs,
		ServerName:       o.ServerName,
		CurvePreferences: o.Curves,
	}
	if o.Resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	}
	return cfg
}
