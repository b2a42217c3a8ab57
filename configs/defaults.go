package configs

import (
	"path/filepath"
	"strings"
	"time"
)

// Defaults. The example config documents each of them.
const (
	DefaultDataDir              = "./data"
	DefaultOrganization         = "Keycard Hotel"
	DefaultPassphraseEnv        = "KEYCARD_CA_PASSPHRASE"
	DefaultRootLifetime         = 20 * 365 * 24 * time.Hour
	DefaultIntermediateLifetime = 10 * 365 * 24 * time.Hour
	DefaultServerLifetime       = 365 * 24 * time.Hour
	DefaultRADIUSServerName     = "radius.keycard.internal"
	DefaultFragmentSize         = 1000
	DefaultMaxMessageSize       = 65536
	DefaultMaxRounds            = 50
	DefaultRejectDelay          = time.Second
	DefaultAcctInterimInterval  = 10 * time.Minute
	DefaultReplyCacheSize       = 65536
	DefaultReplyCacheTTL        = 30 * time.Second
	DefaultEAPSessions          = 4096
	DefaultEAPTimeout           = 30 * time.Second
	DefaultWorkers              = 64
	DefaultAcctWorkers          = 256
	DefaultMaxSessionTimeout    = 4 * time.Hour
	DefaultSessionCacheSize     = 100_000
	DefaultDASTimeout           = time.Second
	DefaultDASRetries           = 3
	DefaultMetricsListen        = "127.0.0.1:9812"
	DefaultPortalURL            = "https://127.0.0.1:8443/"
	DefaultSCEPChallenge        = 10 * time.Minute
	DefaultMaxFailedTries       = 10
	DefaultCodeGroups           = 3
	DefaultPolicy               = "standard"
)

// What a policy's over_max_online may say.
const (
	OverMaxOnlineReject           = "reject"
	OverMaxOnlineDisconnectOldest = "disconnect_oldest"
)

// Init fills every field left empty with its default and resolves relative
// paths against the folder of the config file. It is idempotent.
func (c *Config) Init() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	c.DataDir = c.resolve(c.DataDir)
	if c.Database.Path == "" {
		c.Database.Path = filepath.Join(c.DataDir, "keycard.db")
	}
	c.Database.Path = c.resolve(c.Database.Path)

	ca := &c.CA
	if ca.Dir == "" {
		ca.Dir = filepath.Join(c.DataDir, "ca")
	}
	ca.Dir = c.resolve(ca.Dir)
	ca.PassphraseFile = c.resolve(ca.PassphraseFile)
	str(&ca.Organization, DefaultOrganization)
	str(&ca.PassphraseEnv, DefaultPassphraseEnv)
	dur(&ca.RootLifetime, DefaultRootLifetime)
	dur(&ca.IntermediateLifetime, DefaultIntermediateLifetime)
	dur(&ca.ServerLifetime, DefaultServerLifetime)
	str(&ca.RADIUSServerName, DefaultRADIUSServerName)

	r := &c.RADIUS
	if len(r.AuthListen) == 0 {
		r.AuthListen = []string{"127.0.0.1:1812", "[::1]:1812"}
	}
	num(&r.FragmentSize, DefaultFragmentSize)
	num(&r.MaxMessageSize, DefaultMaxMessageSize)
	num(&r.MaxRounds, DefaultMaxRounds)
	str(&r.TLSMinVersion, "1.2")
	str(&r.TLSMaxVersion, "1.3")
	if len(r.Curves) == 0 {
		r.Curves = []string{"X25519", "P-256"}
	}
	if r.SessionResumption == nil {
		on := true
		r.SessionResumption = &on
	}
	if !c.written["radius.reject_delay"] { // an explicit 0s means no delay
		dur(&r.RejectDelay, DefaultRejectDelay)
	}
	dur(&r.AcctInterimInterval, DefaultAcctInterimInterval)
	num(&r.ReplyCacheSize, DefaultReplyCacheSize)
	dur(&r.ReplyCacheTTL, DefaultReplyCacheTTL)
	num(&r.EAPSessions, DefaultEAPSessions)
	dur(&r.EAPTimeout, DefaultEAPTimeout)
	num(&r.Workers, DefaultWorkers)
	if len(r.AcctListen) == 0 && !c.written["radius.acct_listen"] { // an explicit [] turns accounting off
		r.AcctListen = []string{"127.0.0.1:1813", "[::1]:1813"}
	}
	num(&r.AcctWorkers, DefaultAcctWorkers)
	if !c.written["radius.max_session_timeout"] { // an explicit 0s means no cap
		dur(&r.MaxSessionTimeout, DefaultMaxSessionTimeout)
	}
	num(&r.SessionCacheSize, DefaultSessionCacheSize)
	dur(&r.DASTimeout, DefaultDASTimeout)
	if !c.written["radius.das_retries"] { // an explicit 0 sends each request once
		num(&r.DASRetries, DefaultDASRetries)
	}

	if c.Metrics.Listen == "" && !c.written["metrics.listen"] {
		c.Metrics.Listen = DefaultMetricsListen
	}
	p := &c.Portal
	str(&p.URL, DefaultPortalURL)
	p.TLSCertFile = c.resolve(p.TLSCertFile)
	p.TLSKeyFile = c.resolve(p.TLSKeyFile)
	if p.SCEP == nil {
		on := true
		p.SCEP = &on
	}
	dur(&p.SCEPChallengeLifetime, DefaultSCEPChallenge)
	w := &c.WiFi
	str(&w.HotelName, ca.Organization)
	str(&w.Realm, realmOf(ca.RADIUSServerName))
	str(&w.Passpoint.FriendlyName, w.HotelName)
	num(&c.Vouchers.MaxFailedTries, DefaultMaxFailedTries)
	num(&c.Vouchers.CodeGroups, DefaultCodeGroups)
	if len(c.Policies) == 0 {
		c.Policies = map[string]Policy{DefaultPolicy: {}}
	}
	for name, p := range c.Policies {
		str(&p.OverMaxOnline, OverMaxOnlineReject)
		c.Policies[name] = p
	}
	str(&c.Log.Level, "info")
	str(&c.Log.Format, "text")
}

// realmOf is the domain a server name is in: the name without its first
// label, when that leaves at least two ("radius.hotel.example" gives
// "hotel.example"; "hotel.example" stays as it is).
func realmOf(serverName string) string {
	if _, rest, ok := strings.Cut(serverName, "."); ok && strings.Contains(rest, ".") {
		return rest
	}
	return serverName
}

func str(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func num(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func dur(p *Duration, def time.Duration) {
	if p.Duration == 0 {
		p.Duration = def
	}
}
