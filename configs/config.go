package configs

import "path/filepath"

// Config is the whole of keycard.yaml.
type Config struct {
	// DataDir holds the database, the CA and the backups. Default "./data",
	// relative to the folder of the config file.
	DataDir  string         `yaml:"data_dir"`
	Database DatabaseConfig `yaml:"database"`
	CA       CAConfig       `yaml:"ca"`
	RADIUS   RADIUSConfig   `yaml:"radius"`
	Metrics  MetricsConfig  `yaml:"metrics"`
	Portal   PortalConfig   `yaml:"portal"`
	// Desk is the front-desk web app and the PMS's REST API (desk.go).
	// Default: off.
	Desk     DeskConfig     `yaml:"desk"`
	WiFi     WiFiConfig     `yaml:"wifi"`
	Vouchers VouchersConfig `yaml:"vouchers"`
	// Policies are the network treatments a stay can get, by name. Default:
	// one policy "standard" with no VLAN and no bandwidth limits.
	Policies map[string]Policy `yaml:"policies"`
	Log      LogConfig         `yaml:"log"`
	// Webhooks receive Keycard's events (webhooks.go). Default: none.
	Webhooks []WebhookConfig `yaml:"webhooks"`

	// dir is the folder relative paths are resolved against: the folder of
	// the config file ("" means the working directory).
	dir string
	// written holds the YAML paths the file set explicitly, so that Init can
	// tell "metrics.listen left out" (default) from `listen: ""` (off).
	written map[string]bool
}

// DatabaseConfig locates the SQLite database.
type DatabaseConfig struct {
	// Path of the SQLite file. Default "<data_dir>/keycard.db"; ":memory:"
	// keeps everything in memory (tests only).
	Path string `yaml:"path"`
}

// CAConfig configures the certificate authority in package ca.
type CAConfig struct {
	// Dir holds root.crt, root.key, intermediate.crt, intermediate.key and the
	// server certificates. Default "<data_dir>/ca".
	Dir string `yaml:"dir"`
	// Organization is written into every certificate's subject. Default
	// "Keycard Hotel".
	Organization string `yaml:"organization"`
	// PassphraseEnv names the environment variable holding the passphrase
	// that encrypts the CA keys. Default "KEYCARD_CA_PASSPHRASE".
	PassphraseEnv string `yaml:"passphrase_env"`
	// PassphraseFile is a file (mode 0600) holding that passphrase, read
	// when the environment variable is unset.
	PassphraseFile string `yaml:"passphrase_file"`
	// RootLifetime (default 20 years), IntermediateLifetime (default 10
	// years) and ServerLifetime (default 1 year) are used when the CA is
	// created and when a server certificate is (re)issued.
	RootLifetime         Duration `yaml:"root_lifetime"`
	IntermediateLifetime Duration `yaml:"intermediate_lifetime"`
	ServerLifetime       Duration `yaml:"server_lifetime"`
	// RADIUSServerName is the DNS name in the RADIUS server certificate; the
	// guests' Wi-Fi profiles pin it. Default "radius.keycard.internal".
	RADIUSServerName string `yaml:"radius_server_name"`
	// PortalServerName is the DNS name in the portal's HTTPS certificate when
	// the portal serves TLS itself. Empty: the portal gets no certificate.
	PortalServerName string `yaml:"portal_server_name"`
}

// RADIUSConfig configures the RADIUS server and its EAP-TLS sessions.
type RADIUSConfig struct {
	AuthListen          []string `yaml:"auth_listen"`           // default ["127.0.0.1:1812", "[::1]:1812"]
	AcctListen          []string `yaml:"acct_listen"`           // default ["127.0.0.1:1813", "[::1]:1813"]; [] turns accounting off
	FragmentSize        int      `yaml:"fragment_size"`         // TLS bytes per EAP-TLS packet, default 1000, 64..4096
	MaxMessageSize      int      `yaml:"max_message_size"`      // reassembled TLS message cap, default 65536
	MaxRounds           int      `yaml:"max_rounds"`            // EAP round trips per conversation, default 50
	TLSMinVersion       string   `yaml:"tls_min_version"`       // "1.2" (default) or "1.3"
	TLSMaxVersion       string   `yaml:"tls_max_version"`       // "1.2" or "1.3" (default)
	Curves              []string `yaml:"curves"`                // default ["X25519", "P-256"]
	SessionResumption   *bool    `yaml:"session_resumption"`    // default true
	RejectDelay         Duration `yaml:"reject_delay"`          // default 1s, at most 10s
	AcctInterimInterval Duration `yaml:"acct_interim_interval"` // default 10m, at least 60s
	ReplyCacheSize      int      `yaml:"reply_cache_size"`      // default 65536
	ReplyCacheTTL       Duration `yaml:"reply_cache_ttl"`       // default 30s
	EAPSessions         int      `yaml:"eap_sessions"`          // in-flight EAP conversations, default 4096
	EAPTimeout          Duration `yaml:"eap_timeout"`           // forget a conversation idle this long (per round), default 30s
	Workers             int      `yaml:"workers"`               // requests processed at once, default 64
	AcctWorkers         int      `yaml:"acct_workers"`          // accounting requests awaiting their commit at once, default 256
	MaxSessionTimeout   Duration `yaml:"max_session_timeout"`   // cap on Session-Timeout, default 4h; 0s: no cap
	SessionCacheSize    int      `yaml:"session_cache_size"`    // live sessions kept in memory, default 100000
	DASTimeout          Duration `yaml:"das_timeout"`           // wait for a Disconnect/CoA answer, default 1s
	DASRetries          int      `yaml:"das_retries"`           // resend an unanswered Disconnect/CoA, default 3
}

// Resumption reports whether TLS session resumption is on (the default).
func (r RADIUSConfig) Resumption() bool {
	return r.SessionResumption == nil || *r.SessionResumption
}

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	// Listen is the host:port serving /metrics. Default "127.0.0.1:9812";
	// an explicit empty value (listen: "") disables the endpoint.
	Listen string `yaml:"listen"`
}

// Enabled reports whether the metrics endpoint should be served.
func (m MetricsConfig) Enabled() bool { return m.Listen != "" }

// PortalConfig configures the guest portal: an HTTPS listener for the
// enrolment pages, the RFC 8908 API and SCEP, and a plain-HTTP listener
// that sends everything (the phones' captive-portal probes included) to
// the HTTPS URL.
type PortalConfig struct {
	// URL is the public HTTPS address guests see and vouchers print, the
	// root of a host ("https://wifi.hotel.example/"). Default
	// "https://127.0.0.1:8443/".
	URL string `yaml:"url"`
	// Listen is the host:port of the HTTPS listener. The portal runs when
	// it is set; the default "" leaves the portal off.
	Listen string `yaml:"listen"`
	// HTTPListen is the host:port of the plain-HTTP listener that
	// redirects every request to URL. "" (the default) turns it off.
	HTTPListen string `yaml:"http_listen"`
	// TLSCertFile and TLSKeyFile are the hotel's certificate (PEM, with its
	// chain) and key for URL's host, re-read when they change. Both unset:
	// a certificate from Keycard's own CA, trusted only by devices that
	// trust that CA (a closed lab, make run).
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// RoomLogin lets guests sign in with their room number and surname
	// instead of the voucher code. Default false.
	RoomLogin bool `yaml:"room_login"`
	// SCEP has Apple devices make their own key and enrol through SCEP;
	// false puts a server-made key in a PKCS#12 payload. Default true.
	SCEP *bool `yaml:"scep"`
	// SCEPChallengeLifetime is how long an Apple profile's one-time SCEP
	// challenge stays valid. Default 10m, 1m to 30m.
	SCEPChallengeLifetime Duration `yaml:"scep_challenge_lifetime"`
}

// Enabled reports whether the portal should be served.
func (p PortalConfig) Enabled() bool { return p.Listen != "" }

// UseSCEP reports whether Apple profiles enrol through SCEP (the default).
func (p PortalConfig) UseSCEP() bool { return p.SCEP == nil || *p.SCEP }

// WiFiConfig describes the secure network the guests' profiles join.
type WiFiConfig struct {
	// SSID is the secure network's name (1 to 32 bytes). Required when
	// the portal is on.
	SSID string `yaml:"ssid"`
	// HotelName is shown on the portal and in the profiles. Default
	// ca.organization.
	HotelName string `yaml:"hotel_name"`
	// The help desk, shown on the portal and in the profiles; each
	// optional.
	HelpdeskURL   string `yaml:"helpdesk_url"`
	HelpdeskEmail string `yaml:"helpdesk_email"`
	HelpdeskPhone string `yaml:"helpdesk_phone"`
	// Realm is the domain of the devices' outer identity and of the
	// eap-config provider. Default: ca.radius_server_name without its
	// first label ("radius.hotel.example" gives "hotel.example").
	Realm     string          `yaml:"realm"`
	Passpoint PasspointConfig `yaml:"passpoint"`
}

// PasspointConfig configures the Android Passpoint (Hotspot 2.0) profile.
// It only matches access points that advertise Passpoint.
type PasspointConfig struct {
	Enabled bool `yaml:"enabled"`
	// FQDN is the home service provider's domain. Required when enabled.
	FQDN string `yaml:"fqdn"`
	// FriendlyName is what Android shows. Default wifi.hotel_name.
	FriendlyName string `yaml:"friendly_name"`
	// RoamingConsortiumOIs are the roaming consortium OIs the access
	// points advertise, each 6 or 10 hex digits (3 or 5 octets).
	RoamingConsortiumOIs []string `yaml:"roaming_consortium_ois"`
}

// VouchersConfig configures voucher codes.
type VouchersConfig struct {
	// MaxFailedTries locks a stay's voucher after this many wrong codes.
	// Default 10.
	MaxFailedTries int `yaml:"max_failed_tries"`
	// CodeGroups is the number of 4-character groups in a voucher code
	// (3 gives "K7QD-9XMT-2HWF"). Default 3.
	CodeGroups int `yaml:"code_groups"`
}

// Policy is the network treatment of a stay's devices, sent to the access
// point in the Access-Accept.
type Policy struct {
	VLAN              int `yaml:"vlan"`                // 0: no VLAN assignment; else 1..4094
	BandwidthUpKbps   int `yaml:"bandwidth_up_kbps"`   // 0: unlimited
	BandwidthDownKbps int `yaml:"bandwidth_down_kbps"` // 0: unlimited
	// MaxOnline caps the devices of one stay online at once (0: only the
	// stay's device cap applies). A device roaming between access points
	// counts once.
	MaxOnline int `yaml:"max_online"`
	// OverMaxOnline says what a device over MaxOnline gets: "reject"
	// (default: refused with "too many devices online") or
	// "disconnect_oldest" (let in; the stay's longest-online device is
	// disconnected).
	OverMaxOnline string `yaml:"over_max_online"`
}

// LogConfig configures log/slog.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// resolve makes p absolute against the config file's folder; "" and
// absolute paths are returned unchanged.
func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || p == ":memory:" {
		return p
	}
	return filepath.Clean(filepath.Join(c.dir, p))
}
