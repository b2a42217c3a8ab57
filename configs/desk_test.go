package configs

import (
	"strings"
	"testing"
	"time"
)

func TestDeskConfig(t *testing.T) {
	c, err := Parse([]byte("desk:\n  listen: 127.0.0.1:8444\n"), "keycard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := c.Desk
	if !d.Enabled() || d.URL != "https://127.0.0.1:8444/" || d.IdleTimeout.Duration != 30*time.Minute || d.SessionLifetime.Duration != 12*time.Hour {
		t.Errorf("defaults: %+v", d)
	}
	if c, err := Parse([]byte("{}\n"), "keycard.yaml"); err != nil || c.Desk.Enabled() {
		t.Errorf("the desk is on by default: %+v %v", c.Desk, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"desk:\n  listen: 127.0.0.1:8444\n  url: http://desk.example/\n", "desk.url"},
		{"desk:\n  listen: 127.0.0.1:9812\n", "desk.listen: \"127.0.0.1:9812\" is also metrics.listen"},
		{"desk:\n  url: https://desk.example/\n", "desk.listen: is empty"},
		{"desk:\n  listen: 127.0.0.1:8444\n  idle_timeout: 20s\n", "desk.idle_timeout"},
		{"desk:\n  listen: 127.0.0.1:8444\n  idle_timeout: 5h\n  session_lifetime: 2h\n", "longer than desk.session_lifetime"},
		{"desk:\n  listen: 127.0.0.1:8444\n  tls_cert_file: a.crt\n", "desk.tls_key_file"},
		{"portal:\n  listen: 127.0.0.1:8443\nwifi: {ssid: x}\ndesk:\n  listen: 127.0.0.1:8444\n  url: https://127.0.0.1:8443/\n", "guest portal's address"},
	} {
		_, err := Parse([]byte(tc.yaml), "keycard.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
