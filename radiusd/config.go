package radiusd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"keycard/sessions"
	"keycard/vouchers"
)

// Config tunes the server. It mirrors configs.RADIUSConfig with plain Go
// types; the keycard command converts. Zero values take the defaults below.
type Config struct {
	AuthListen          []string      // UDP addresses, IPv4 and IPv6; default ["127.0.0.1:1812", "[::1]:1812"]
	AcctListen          []string      // accounting (RFC 2866) UDP addresses; none means no accounting listener
	FragmentSize        int           // TLS bytes per EAP-TLS packet; default 1000
	MaxMessageSize      int           // reassembled TLS message cap; default 65536
	MaxRounds           int           // EAP round trips per authentication; default 50
	TLSMinVersion       uint16        // default tls.VersionTLS12
	TLSMaxVersion       uint16        // default tls.VersionTLS13
	Curves              []tls.CurveID // default X25519, P-256
	SessionResumption   *bool         // TLS session tickets; nil means on
	RejectDelay         time.Duration // delay before an Access-Reject; default 1s; negative means none
	AcctInterimInterval time.Duration // sent in Access-Accept; default 10m
	ReplyCacheSize      int           // RFC 5080 reply cache entries (final answers kept first, ≤640 B each on average); default 65536
	ReplyCacheTTL       time.Duration // default 30s
	EAPSessions         int           // in-flight EAP conversations; default 4096
	EAPTimeout          time.Duration // forget a conversation idle this long (per round); default 30s
	Workers             int           // requests processed at once; default 64
	AcctWorkers         int           // accounting requests waiting for their commit at once; default 256
	// MaxSessionTimeout caps the Session-Timeout of an Access-Accept
	// (default 4h): a longer stay gets this with Termination-Action =
	// RADIUS-Request, so an access point that ignores Disconnect-Request
	// still asks again at least this often. Negative means no cap.
	MaxSessionTimeout time.Duration
}

// Defaults for zero Config fields.
const (
	defaultFragmentSize        = 1000
	defaultMaxMessageSize      = 65536
	defaultMaxRounds           = 50
	defaultRejectDelay         = time.Second
	defaultAcctInterimInterval = 10 * time.Minute
	defaultReplyCacheSize      = 65536 // final answers within the TTL at the design load; see replycache.go
	defaultReplyCacheTTL       = 30 * time.Second
	defaultEAPSessions         = 4096
	defaultEAPTimeout          = 30 * time.Second
	defaultWorkers             = 64
	defaultAcctWorkers         = 256
	defaultMaxSessionTimeout   = 4 * time.Hour
)

func (c *Config) init() {
	if len(c.AuthListen) == 0 {
		c.AuthListen = []string{"127.0.0.1:1812", "[::1]:1812"}
	}
	setDefault(&c.FragmentSize, defaultFragmentSize)
	setDefault(&c.MaxMessageSize, defaultMaxMessageSize)
	setDefault(&c.MaxRounds, defaultMaxRounds)
	setDefault(&c.TLSMinVersion, tls.VersionTLS12)
	setDefault(&c.TLSMaxVersion, tls.VersionTLS13)
	if len(c.Curves) == 0 {
		c.Curves = []tls.CurveID{tls.X25519, tls.CurveP256}
	}
	setDefault(&c.RejectDelay, defaultRejectDelay)
	if c.RejectDelay < 0 {
		c.RejectDelay = 0
	}
	setDefault(&c.AcctInterimInterval, defaultAcctInterimInterval)
	setDefault(&c.ReplyCacheSize, defaultReplyCacheSize)
	setDefault(&c.ReplyCacheTTL, defaultReplyCacheTTL)
	setDefault(&c.EAPSessions, defaultEAPSessions)
	setDefault(&c.EAPTimeout, defaultEAPTimeout)
	setDefault(&c.Workers, defaultWorkers)
	setDefault(&c.AcctWorkers, defaultAcctWorkers)
	setDefault(&c.MaxSessionTimeout, defaultMaxSessionTimeout)
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.TLSMinVersion > c.TLSMaxVersion {
		errs = append(errs, fmt.Errorf("radiusd: TLS minimum version %s is above the maximum %s",
			tls.VersionName(c.TLSMinVersion), tls.VersionName(c.TLSMaxVersion)))
	}
	if c.TLSMinVersion < tls.VersionTLS12 {
		errs = append(errs, fmt.Errorf("radiusd: TLS minimum version %s is below TLS 1.2", tls.VersionName(c.TLSMinVersion)))
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"fragment size", c.FragmentSize}, {"max message size", c.MaxMessageSize}, {"max rounds", c.MaxRounds},
		{"reply cache size", c.ReplyCacheSize}, {"EAP sessions", c.EAPSessions}, {"workers", c.Workers},
		{"accounting workers", c.AcctWorkers}} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("radiusd: %s %d is negative", n.name, n.v))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) sessionResumption() bool { return c.SessionResumption == nil || *c.SessionResumption }

// NASLookup finds the NAS that sent a packet by its source address;
// *NASStore is one.
type NASLookup interface {
	Lookup(ip netip.Addr) (NAS, bool)
}

// An Authorizer decides whether the device holding a verified client
// certificate may join now; *vouchers.Store is one. An error means the
// decision could not be made (a database failure), not a refusal.
type Authorizer interface {
	Authorize(ctx context.Context, cert *x509.Certificate, now time.Time) (vouchers.Decision, error)
}

// Deps are the server's collaborators.
type Deps struct {
	NAS               NASLookup             // required
	Authorizer        Authorizer            // required
	ServerCertificate tls.Certificate       // the RADIUS server's certificate and chain; required
	ClientCAs         *x509.CertPool        // roots that issue guest device certificates; required
	Logger            *slog.Logger          // default slog.Default()
	Registry          prometheus.Registerer // default: a private registry (metrics not exported)
	Now               func() time.Time      // default time.Now; drives certificate validity and stay checks
	Rand              io.Reader             // default crypto/rand; State values, MPPE salts, ticket keys
	// Accounting stores accounting records; required when
	// Config.AcctListen is set. *sessions.Store is one.
	Accounting Accounting
	// Devices ties an accounting record without Keycard's Class to a
	// device by its User-Name ("device-<id>"); optional. *vouchers.Store
	// is one.
	Devices DeviceLookup
	// SessionSeen, when set, is told of every open session an
	// Accounting-Request reported, after it was stored (the enforcer
	// disconnects a device that should not be online).
	SessionSeen func(ctx context.Context, s sessions.Session)
	// Online counts a stay's devices online, for a policy's MaxOnline;
	// *sessions.Store is one. Without it MaxOnline is not applied.
	Online OnlineDevices
	// Evict disconnects a device (every open session of it), for a policy
	// that lets a device over MaxOnline in by dropping the stay's
	// longest-online device; the enforcer's KickDevice is one.
	Evict func(ctx context.Context, deviceID int64, reason string)
}

// OnlineDevices tells which devices of a stay are online now: device id ->
// since when, counting a device once however many sessions it has.
type OnlineDevices interface {
	OnlineDevices(stayID int64, now time.Time) map[int64]time.Time
}

// Accounting is where the accounting listener puts what the NAS reports.
// Record and CloseNAS return only once the change is durable: the NAS is
// answered after that, never before.
type Accounting interface {
	Record(ctx context.Context, rec sessions.Record) (sessions.Session, error)
	CloseNAS(ctx context.Context, nas string, at time.Time, cause string) (int, error)
}

// DeviceLookup finds an enrolled device by its id.
type DeviceLookup interface {
	Device(ctx context.Context, id int64) (vouchers.Device, error)
}
