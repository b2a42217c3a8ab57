package configs

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestShippedConfigsLoad(t *testing.T) {
	for _, name := range []string{"keycard.dev.yaml", "keycard.example.yaml"} {
		t.Run(name, func(t *testing.T) {
			c, err := Load(name)
			if err != nil {
				t.Fatalf("Load(%s): %v", name, err)
			}
			if _, ok := c.Policies["standard"]; !ok {
				t.Errorf("no standard policy: %v", c.Policies)
			}
			if !filepath.IsAbs(c.DataDir) || !filepath.IsAbs(c.CA.Dir) || !filepath.IsAbs(c.Database.Path) {
				t.Errorf("paths not absolute: %q %q %q", c.DataDir, c.CA.Dir, c.Database.Path)
			}
		})
	}
}

func TestDevConfig(t *testing.T) {
	c, err := Load("keycard.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	here, _ := filepath.Abs(".")
	wantData := filepath.Join(filepath.Dir(here), "data")
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.DataDir, wantData},
		{"database.path", c.Database.Path, filepath.Join(wantData, "keycard.db")},
		{"ca.dir", c.CA.Dir, filepath.Join(wantData, "ca")},
		{"ca.radius_server_name", c.CA.RADIUSServerName, "radius.keycard.test"},
		{"ca.passphrase_env", c.CA.PassphraseEnv, "KEYCARD_CA_PASSPHRASE"},
		{"ca.passphrase_file", c.CA.PassphraseFile, filepath.Join(wantData, "ca-passphrase")},
		{"radius.auth_listen", c.RADIUS.AuthListen, []string{"127.0.0.1:1812", "[::1]:1812"}},
		{"metrics.listen", c.Metrics.Listen, "127.0.0.1:9812"},
		{"portal.url", c.Portal.URL, "https://127.0.0.1:8443/"},
		{"portal.listen", c.Portal.Listen, "127.0.0.1:8443"},
		{"portal.http_listen", c.Portal.HTTPListen, "127.0.0.1:8080"},
		{"portal on", c.Portal.Enabled(), true},
		{"portal.scep", c.Portal.UseSCEP(), true},
		{"wifi.ssid", c.WiFi.SSID, "Keycard Dev"},
		{"wifi.realm", c.WiFi.Realm, "keycard.test"},
		{"policies", len(c.Policies), 2},
		{"premium vlan", c.Policies["premium"].VLAN, 20},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse([]byte("# nothing set\n"), filepath.Join(dir, "keycard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := c.RADIUS.TLSVersions()
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.DataDir, filepath.Join(dir, "data")},
		{"database.path", c.Database.Path, filepath.Join(dir, "data", "keycard.db")},
		{"ca.dir", c.CA.Dir, filepath.Join(dir, "data", "ca")},
		{"ca.organization", c.CA.Organization, "Keycard Hotel"},
		{"ca.passphrase_env", c.CA.PassphraseEnv, "KEYCARD_CA_PASSPHRASE"},
		{"ca.passphrase_file", c.CA.PassphraseFile, ""},
		{"ca.root_lifetime", c.CA.RootLifetime.Duration, 20 * 365 * 24 * time.Hour},
		{"ca.intermediate_lifetime", c.CA.IntermediateLifetime.Duration, 10 * 365 * 24 * time.Hour},
		{"ca.server_lifetime", c.CA.ServerLifetime.Duration, 365 * 24 * time.Hour},
		{"ca.radius_server_name", c.CA.RADIUSServerName, "radius.keycard.internal"},
		{"radius.auth_listen", c.RADIUS.AuthListen, []string{"127.0.0.1:1812", "[::1]:1812"}},
		{"radius.fragment_size", c.RADIUS.FragmentSize, 1000},
		{"radius.max_message_size", c.RADIUS.MaxMessageSize, 65536},
		{"radius.max_rounds", c.RADIUS.MaxRounds, 50},
		{"tls min", lo, uint16(tls.VersionTLS12)},
		{"tls max", hi, uint16(tls.VersionTLS13)},
		{"curves", c.RADIUS.CurveIDs(), []tls.CurveID{tls.X25519, tls.CurveP256}},
		{"session_resumption", c.RADIUS.Resumption(), true},
		{"reject_delay", c.RADIUS.RejectDelay.Duration, time.Second},
		{"acct_interim_interval", c.RADIUS.AcctInterimInterval.Duration, 10 * time.Minute},
		{"reply_cache_size", c.RADIUS.ReplyCacheSize, 65536},
		{"reply_cache_ttl", c.RADIUS.ReplyCacheTTL.Duration, 30 * time.Second},
		{"eap_sessions", c.RADIUS.EAPSessions, 4096},
		{"eap_timeout", c.RADIUS.EAPTimeout.Duration, 30 * time.Second},
		{"workers", c.RADIUS.Workers, 64},
		{"metrics.listen", c.Metrics.Listen, "127.0.0.1:9812"},
		{"portal.url", c.Portal.URL, "https://127.0.0.1:8443/"},
		{"portal.listen (off)", c.Portal.Listen, ""},
		{"portal on", c.Portal.Enabled(), false},
		{"portal.http_listen", c.Portal.HTTPListen, ""},
		{"portal.tls_cert_file", c.Portal.TLSCertFile, ""},
		{"portal.room_login", c.Portal.RoomLogin, false},
		{"portal.scep", c.Portal.UseSCEP(), true},
		{"portal.scep_challenge_lifetime", c.Portal.SCEPChallengeLifetime.Duration, 10 * time.Minute},
		{"wifi.hotel_name", c.WiFi.HotelName, "Keycard Hotel"},
		{"wifi.realm", c.WiFi.Realm, "keycard.internal"},
		{"wifi.passpoint.enabled", c.WiFi.Passpoint.Enabled, false},
		{"wifi.passpoint.friendly_name", c.WiFi.Passpoint.FriendlyName, "Keycard Hotel"},
		{"vouchers.max_failed_tries", c.Vouchers.MaxFailedTries, 10},
		{"vouchers.code_groups", c.Vouchers.CodeGroups, 3},
		{"policies", c.Policies, map[string]Policy{"standard": {OverMaxOnline: "reject"}}},
		{"radius.acct_listen", c.RADIUS.AcctListen, []string{"127.0.0.1:1813", "[::1]:1813"}},
		{"radius.acct_workers", c.RADIUS.AcctWorkers, 256},
		{"radius.max_session_timeout", c.RADIUS.MaxSessionTimeout.Duration, 4 * time.Hour},
		{"radius.session_cache_size", c.RADIUS.SessionCacheSize, 100_000},
		{"radius.das_timeout", c.RADIUS.DASTimeout.Duration, time.Second},
		{"radius.das_retries", c.RADIUS.DASRetries, 3},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}

	// Init is idempotent.
	before := *c
	c.Init()
	if c.DataDir != before.DataDir || c.Database.Path != before.Database.Path || c.CA.Dir != before.CA.Dir {
		t.Errorf("second Init moved paths: %q %q %q", c.DataDir, c.Database.Path, c.CA.Dir)
	}
}

func TestExplicitValuesKept(t *testing.T) {
	dir := t.TempDir()
	yml := `
data_dir: state
database: {path: /srv/keycard.db}
ca: {dir: pki, passphrase_file: secret/pass}
radius:
  session_resumption: false
  curves: [X25519MLKEM768, P-384]
  tls_min_version: "1.3"
metrics: {listen: ""}
`
	c, err := Parse([]byte(yml), filepath.Join(dir, "k.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.DataDir, filepath.Join(dir, "state")},
		{"database.path", c.Database.Path, "/srv/keycard.db"},
		{"ca.dir", c.CA.Dir, filepath.Join(dir, "pki")},
		{"ca.passphrase_file", c.CA.PassphraseFile, filepath.Join(dir, "secret", "pass")},
		{"resumption", c.RADIUS.Resumption(), false},
		{"curves", c.RADIUS.CurveIDs(), []tls.CurveID{tls.X25519MLKEM768, tls.CurveP384}},
		{"metrics off", c.Metrics.Enabled(), false},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if lo, _ := c.RADIUS.TLSVersions(); lo != tls.VersionTLS13 {
		t.Errorf("tls min = %x", lo)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		want []string // all must appear in the error
	}{
		{"unknown key names key, line and section", "data_dir: x\nradius:\n  fragmnet_size: 900\n",
			[]string{`configs: keycard.yaml line 3: unknown field "fragmnet_size" in radius`, `did you mean "fragment_size"?`}},
		{"unknown top-level key", "dta_dir: x\n", []string{`line 1: unknown field "dta_dir" in the top level`, `did you mean "data_dir"`}},
		{"unknown key in a policy", "policies:\n  gold:\n    vlna: 5\n", []string{`line 3: unknown field "vlna" in policies.gold`}},
		{"passphrase in the file", "ca:\n  passphrase: hunter2\n", []string{`line 2: unknown field "passphrase" in ca`, "passphrase_env", "passphrase_file"}},
		{"passphrase at top level", "ca_passphrase: hunter2\n", []string{`unknown field "ca_passphrase"`, "ca.passphrase_env"}},
		{"bad duration", "radius:\n  reject_delay: 2 seconds\n", []string{`line 2: radius.reject_delay: "2 seconds" is not a duration`, `"30s"`}},
		{"duration without unit", "radius:\n  eap_timeout: 30\n", []string{`line 2: radius.eap_timeout: "30" has no unit`}},
		{"not a number", "radius:\n  workers: many\n", []string{`line 2: radius.workers: "many" is not a whole number`}},
		{"not a list", "radius:\n  auth_listen: :1812\n", []string{`line 2: radius.auth_listen: expected a list`}},
		{"not a bool", "radius:\n  session_resumption: sometimes\n", []string{`radius.session_resumption: "sometimes" is not true or false`}},
		{"section not a mapping", "radius: 5\n", []string{`radius: expected a mapping`}},
		{"top not a mapping", "- a\n- b\n", []string{`the file must be a mapping`}},
		{"broken yaml", "radius:\n\tworkers: 5\n", []string{`configs: keycard.yaml`}},
		{"duplicate key", "data_dir: a\ndata_dir: b\n", []string{`already defined`}},
		{"two problems both reported", "radius:\n  fragmnet_size: 900\nlog:\n  levle: info\n", []string{`line 2: unknown field "fragmnet_size"`, `line 4: unknown field "levle" in log`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yml), "keycard.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// portalOn turns the portal on (its YAML mapping left open for more keys);
// wifiSSID is the one Wi-Fi setting the portal needs.
const (
	portalOn = `portal: {url: "https://wifi.hotel.example/", listen: "127.0.0.1:8443"`
	wifiSSID = "\nwifi: {ssid: Hotel}"
)

func TestPortalConfig(t *testing.T) {
	dir := t.TempDir()
	yml := `
ca: {radius_server_name: radius.grand.example, organization: Grand Hotel}
portal:
  url: https://wifi.grand.example/
  listen: ":443"
  http_listen: ":80"
  tls_cert_file: tls/portal.crt
  tls_key_file: /etc/keycard/portal.key
  room_login: true
  scep: false
  scep_challenge_lifetime: 5m
wifi:
  ssid: Grand Wi-Fi
  passpoint: {enabled: true, fqdn: grand.example, roaming_consortium_ois: [a1b2c3, 0011223344]}
`
	c, err := Parse([]byte(yml), filepath.Join(dir, "k.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"on", c.Portal.Enabled(), true},
		{"cert resolved", c.Portal.TLSCertFile, filepath.Join(dir, "tls", "portal.crt")},
		{"key", c.Portal.TLSKeyFile, "/etc/keycard/portal.key"},
		{"room_login", c.Portal.RoomLogin, true},
		{"scep off", c.Portal.UseSCEP(), false},
		{"challenge", c.Portal.SCEPChallengeLifetime.Duration, 5 * time.Minute},
		{"hotel name from the CA", c.WiFi.HotelName, "Grand Hotel"},
		{"realm from the RADIUS name", c.WiFi.Realm, "grand.example"},
		{"passpoint name", c.WiFi.Passpoint.FriendlyName, "Grand Hotel"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	// An IP address is a fine portal host for a closed lab.
	if _, err := Parse([]byte(portalOn[:len(portalOn)-len(`url: "https://wifi.hotel.example/", listen: "127.0.0.1:8443"`)]+
		`url: "https://10.9.0.1:8443/", listen: "10.9.0.1:8443"}`+wifiSSID), filepath.Join(dir, "ip.yaml")); err != nil {
		t.Errorf("portal on an IP address: %v", err)
	}
}

func TestValidateNamesEachBadField(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		want string
	}{
		{"fragment too small", "radius: {fragment_size: 20}", `radius.fragment_size: 20 is too small; use 64 to 3500`},
		{"fragment too large", "radius: {fragment_size: 9000}", `radius.fragment_size: 9000 is too large; use 64 to 3500`},
		{"vlan", "policies: {standard: {}, gold: {vlan: 5000}}", `policies.gold.vlan: 5000 is out of range; use 1 to 4094`},
		{"negative bandwidth", "policies: {standard: {bandwidth_up_kbps: -1}}", `policies.standard.bandwidth_up_kbps: -1 is out of range`},
		{"bad policy name", "policies: {standard: {}, Gold Plus: {}}", `policies.Gold Plus: policy name "Gold Plus"`},
		{"no standard policy", "policies: {gold: {vlan: 5}}", `policies: there is no "standard" policy`},
		{"unknown curve", "radius: {curves: [X25519, P-999]}", `radius.curves: unknown curve "P-999"; use X25519, P-256, P-384 or X25519MLKEM768`},
		{"duplicate curve", "radius: {curves: [X25519, x25519]}", `radius.curves[1]: "x25519" is listed twice`},
		{"listen without port", `radius: {auth_listen: [":1812", "1.2.3.4"]}`, `radius.auth_listen[1]: "1.2.3.4" has no port; write host:port like ":1812"`},
		{"listen bad port", `radius: {auth_listen: [":99999"]}`, `radius.auth_listen[0]: port "99999" of ":99999" is not a number from 1 to 65535`},
		{"listen hostname", `radius: {auth_listen: ["radius.local:1812"]}`, `radius.auth_listen[0]: host "radius.local" of "radius.local:1812" is not an IP address`},
		{"listen twice", `radius: {auth_listen: [":1812", ":1812"]}`, `radius.auth_listen[1]: ":1812" is listed twice`},
		{"metrics no port", `metrics: {listen: "127.0.0.1"}`, `metrics.listen: "127.0.0.1" has no port; write host:port like ":9812"`},
		{"tls version", `radius: {tls_min_version: "1.0"}`, `radius.tls_min_version: unknown TLS version "1.0"; use "1.2" or "1.3"`},
		{"tls min above max", `radius: {tls_min_version: "1.3", tls_max_version: "1.2"}`, `radius.tls_min_version: 1.3 is above radius.tls_max_version 1.2`},
		{"reject delay", "radius: {reject_delay: 30s}", `radius.reject_delay: 30s is too long; use 0s to 10s`},
		{"interim too short", "radius: {acct_interim_interval: 10s}", `radius.acct_interim_interval: 10s is too short; use 1m to 1d`},
		{"max rounds", "radius: {max_rounds: 2}", `radius.max_rounds: 2 is too small; use 4 to 1000`},
		{"workers", "radius: {workers: 100000}", `radius.workers: 100000 is too large; use 1 to 4096`},
		{"server name ip", "ca: {radius_server_name: 10.0.0.1}", `ca.radius_server_name: "10.0.0.1" is an IP address`},
		{"server name single label", "ca: {radius_server_name: radius}", `ca.radius_server_name: "radius" is not a fully qualified DNS name`},
		{"server name bad chars", "ca: {radius_server_name: radius_1.hotel.example}", `ca.radius_server_name: "radius_1.hotel.example" is not a valid DNS name`},
		{"server lifetime", "ca: {server_lifetime: 900d}", `ca.server_lifetime: 900d is too long; use 1d to 825d`},
		{"intermediate outlives root", "ca: {root_lifetime: 5y, intermediate_lifetime: 10y}", `ca.intermediate_lifetime: 10y is longer than ca.root_lifetime (5y)`},
		{"passphrase_env holds the secret", `ca: {passphrase_env: "correct horse battery"}`, `ca.passphrase_env: "correct horse battery" is not an environment variable name`},
		{"portal url", `portal: {url: "wifi.hotel.example"}`, `portal.url: "wifi.hotel.example" is not an absolute URL`},
		{"portal url scheme", `portal: {url: "ftp://wifi.hotel.example/"}`, `portal.url: "ftp://wifi.hotel.example/" must start with https://`},
		{"portal url http while on", `portal: {url: "http://wifi.hotel.example/", listen: "127.0.0.1:8443"}` + wifiSSID, `portal.url: "http://wifi.hotel.example/" must start with https:// when portal.listen is set`},
		{"portal url path", `portal: {url: "https://wifi.hotel.example/guest/"}`, `portal.url: "https://wifi.hotel.example/guest/" has the path "/guest/"; the portal serves the root of its host, so write it like "https://wifi.hotel.example/"`},
		{"portal url query", `portal: {url: "https://wifi.hotel.example/?code=1"}`, `portal.url: "https://wifi.hotel.example/?code=1" must be a bare address`},
		{"portal url host", `portal: {url: "https://wifi_hotel/"}`, `portal.url: host "wifi_hotel" of "https://wifi_hotel/" is not a valid DNS name`},
		{"portal listen", portalOn[:len(portalOn)-len(`listen: "127.0.0.1:8443"`)] + `listen: "wifi:443"}` + wifiSSID, `portal.listen: host "wifi" of "wifi:443" is not an IP address`},
		{"portal listen no port", `portal: {listen: "127.0.0.1"}` + wifiSSID, `portal.listen: "127.0.0.1" has no port; write host:port like ":443"`},
		{"portal http without https", `portal: {http_listen: ":80"}`, `portal.http_listen: is set but portal.listen is empty`},
		{"portal http same port", portalOn + `, http_listen: "127.0.0.1:8443"}` + wifiSSID, `portal.http_listen: "127.0.0.1:8443" is also portal.listen`},
		{"portal http no port", portalOn + `, http_listen: "80"}` + wifiSSID, `portal.http_listen: "80" has no port; write host:port like ":80"`},
		{"portal listen is metrics", `portal: {listen: "127.0.0.1:9812"}` + wifiSSID, `portal.listen: "127.0.0.1:9812" is also metrics.listen`},
		{"portal cert without key", `portal: {tls_cert_file: /etc/keycard/portal.crt}`, `portal.tls_key_file: is empty but portal.tls_cert_file is set`},
		{"portal key without cert", `portal: {tls_key_file: /etc/keycard/portal.key}`, `portal.tls_cert_file: is empty but portal.tls_key_file is set`},
		{"portal challenge lifetime", `portal: {scep_challenge_lifetime: 2h}`, `portal.scep_challenge_lifetime: 2h is too long; use 1m to 30m`},
		{"ssid required", portalOn + "}", `wifi.ssid: must not be empty`},
		{"ssid too long", portalOn + "}\nwifi: {ssid: " + strings.Repeat("x", 33) + "}", `wifi.ssid: "` + strings.Repeat("x", 33) + `" is 33 bytes; an SSID has at most 32`},
		{"ssid space", portalOn + "}\nwifi: {ssid: \" Hotel\"}", `wifi.ssid: " Hotel" starts or ends with a space`},
		{"helpdesk url", portalOn + "}\nwifi: {ssid: Hotel, helpdesk_url: hotel.example/help}", `wifi.helpdesk_url: "hotel.example/help" is not an absolute http(s) URL`},
		{"helpdesk email", portalOn + "}\nwifi: {ssid: Hotel, helpdesk_email: \"Front Desk <fd@hotel.example>\"}", `wifi.helpdesk_email: "Front Desk <fd@hotel.example>" is not a bare e-mail address`},
		{"helpdesk phone", portalOn + "}\nwifi: {ssid: Hotel, helpdesk_phone: call us}", `wifi.helpdesk_phone: "call us" is not a phone number`},
		{"realm", portalOn + "}\nwifi: {ssid: Hotel, realm: Hotel}", `wifi.realm: "Hotel" is not a valid DNS domain`},
		{"hotel name", portalOn + "}\nwifi: {ssid: Hotel, hotel_name: " + strings.Repeat("h", 65) + "}", `wifi.hotel_name: "` + strings.Repeat("h", 65) + `" is 65 characters long; use at most 64`},
		{"passpoint fqdn", portalOn + "}\nwifi: {ssid: Hotel, passpoint: {enabled: true}}", `wifi.passpoint.fqdn: must not be empty`},
		{"passpoint oi", portalOn + "}\nwifi: {ssid: Hotel, passpoint: {enabled: true, fqdn: hotel.example, roaming_consortium_ois: [\"12345\"]}}", `wifi.passpoint.roaming_consortium_ois[0]: "12345" is not an OI; write 6 or 10 hex digits`},
		{"passpoint oi twice", portalOn + "}\nwifi: {ssid: Hotel, passpoint: {enabled: true, fqdn: hotel.example, roaming_consortium_ois: [a1b2c3, A1B2C3]}}", `wifi.passpoint.roaming_consortium_ois[1]: "A1B2C3" is listed twice (also at [0])`},
		{"log level", "log: {level: verbose}", `log.level: unknown level "verbose"; use debug, info, warn or error`},
		{"log format", "log: {format: xml}", `log.format: unknown format "xml"; use text or json`},
		{"code groups", "vouchers: {code_groups: 2}", `vouchers.code_groups: 2 is too small; use 3 to 8`},
		{"max tries", "vouchers: {max_failed_tries: -3}", `vouchers.max_failed_tries: -3 is too small; use 1 to 1000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yml), filepath.Join(t.TempDir(), "keycard.yaml"))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error holds no *FieldError: %v", err)
			}
			// One error per bad field: each input has exactly one problem.
			if n := strings.Count(err.Error(), "\n"); n != 1 {
				t.Errorf("want exactly one problem, got %d lines:\n%v", n, err)
			}
		})
	}
}

func TestValidateJoinsAllProblems(t *testing.T) {
	c := &Config{}
	c.Init()
	c.RADIUS.FragmentSize = 20
	c.RADIUS.Curves = []string{"P-999"}
	c.Policies["gold"] = Policy{VLAN: 5000}
	err := c.Validate()
	var paths []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if errors.As(e, &fe) {
			paths = append(paths, fe.Path)
		}
	}
	want := []string{"radius.fragment_size", "radius.curves", "policies.gold.vlan"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %v, want %v", paths, want)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"30s", 30 * time.Second, ""},
		{"720h", 720 * time.Hour, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"90d", 90 * 24 * time.Hour, ""},
		{"20y", 20 * 365 * 24 * time.Hour, ""},
		{"0", 0, ""},
		{"30", 0, `has no unit; write it like "30s"`},
		{"1.5d", 0, "use whole days"},
		{"soon", 0, `"soon" is not a duration`},
		{"-5s", 0, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var v struct {
				D Duration `yaml:"d"`
			}
			err := yamlUnmarshalStrict("d: "+tt.in, &v)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || v.D.Duration != tt.want {
				t.Fatalf("got %v, %v; want %v", v.D.Duration, err, tt.want)
			}
		})
	}
}

func TestPassphrase(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "s3cret phrase\n", 0o600)
	crlf := write("crlf", "s3cret phrase\r\n", 0o400)
	open := write("open", "s3cret phrase\n", 0o644)
	empty := write("empty", "\n", 0o600)

	const env = "KEYCARD_TEST_CA_PASSPHRASE"
	tests := []struct {
		name    string
		envVal  string
		file    string
		want    string
		wantErr []string
	}{
		{"env wins over file", "from-env", good, "from-env", nil},
		{"file when env unset", "", good, "s3cret phrase", nil},
		{"crlf trimmed", "", crlf, "s3cret phrase", nil},
		{"world-readable file refused", "", open, "", []string{"chmod 600", open}},
		{"empty file refused", "", empty, "", []string{"is empty"}},
		{"missing file", "", filepath.Join(dir, "nope"), "", []string{"does not exist"}},
		{"neither set", "", "", "", []string{env, "ca.passphrase_env", "ca.passphrase_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(env, tt.envVal)
			got, err := CAConfig{PassphraseEnv: env, PassphraseFile: tt.file}.Passphrase()
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"keycard.dev.yaml", "keycard.example.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("radius: {fragment_size: 20}\n"))
	f.Add([]byte("a: &x {b: 1}\nc: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err == nil {
			if c.Validate() != nil {
				t.Fatal("Parse accepted a config Validate rejects")
			}
			if c.RADIUS.FragmentSize < 64 || len(c.RADIUS.CurveIDs()) == 0 {
				t.Fatalf("accepted invalid radius config %+v", c.RADIUS)
			}
		}
	})
}

func TestAccountingListen(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
		problem    string // in the error, "" for none
	}{
		{"default", "radius: {}\n", []string{"127.0.0.1:1813", "[::1]:1813"}, ""},
		{"off", "radius: {acct_listen: []}\n", []string{}, ""},
		{"own", "radius: {acct_listen: [\":1813\"]}\n", []string{":1813"}, ""},
		{"same as auth", "radius: {auth_listen: [\"127.0.0.1:1812\"], acct_listen: [\"127.0.0.1:1812\"]}\n", nil, "radius.acct_listen[0]: \"127.0.0.1:1812\" is also in radius.auth_listen"},
		{"no port", "radius: {acct_listen: [\"127.0.0.1\"]}\n", nil, "radius.acct_listen[0]: \"127.0.0.1\" has no port; write host:port like \":1813\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("error %v; want one containing %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.RADIUS.AcctListen, tc.want) {
				t.Errorf("acct_listen = %#v, want %#v", c.RADIUS.AcctListen, tc.want)
			}
		})
	}
}
