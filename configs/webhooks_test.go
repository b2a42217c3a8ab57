package configs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeSecret(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodSecret = "3f9a1c0e5b7d2f4a6c8e0b1d3f5a7c9e" // 32 bytes

func TestWebhooksConfig(t *testing.T) {
	dir := t.TempDir()
	writeSecret(t, dir, "pms.secret", goodSecret+"\n", 0o600)
	yml := `webhooks:
  - url: https://pms.hotel.example/keycard
    secret_file: pms.secret
    events: [stay.created, stay.ended]
  - url: http://127.0.0.1:9000/hook
    secret_file: pms.secret
`
	c, err := Parse([]byte(yml), filepath.Join(dir, "keycard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Webhooks) != 2 {
		t.Fatalf("webhooks = %+v", c.Webhooks)
	}
	w := c.Webhooks[0]
	if w.SecretFile != filepath.Join(dir, "pms.secret") || !slices.Equal(w.Events, []string{"stay.created", "stay.ended"}) {
		t.Errorf("webhooks[0] = %+v", w)
	}
	secret, err := w.Secret()
	if err != nil || string(secret) != goodSecret {
		t.Errorf("Secret = %q, %v; want the file without its newline", secret, err)
	}
	if len(c.Webhooks[1].Events) != 0 {
		t.Errorf("webhooks[1].events = %v, want empty (all)", c.Webhooks[1].Events)
	}
}

func TestWebhooksNoneByDefault(t *testing.T) {
	c, err := Parse([]byte(""), filepath.Join(t.TempDir(), "keycard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Webhooks) != 0 {
		t.Errorf("webhooks = %v, want none", c.Webhooks)
	}
}

func TestWebhooksValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeSecret(t, dir, "good", goodSecret, 0o600)
	short := writeSecret(t, dir, "short", "  tooshort  \n", 0o600)
	open := writeSecret(t, dir, "open", goodSecret, 0o644)
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name string
		yml  string
		want string
	}{
		{"no url", `webhooks: [{secret_file: ` + good + `}]`, `webhooks[0].url: must not be empty`},
		{"plain http", `webhooks: [{url: "http://pms.hotel.example/k", secret_file: ` + good + `}]`, `webhooks[0].url: "http://pms.hotel.example/k" must start with https:// (plain http only to a loopback address`},
		{"not a url", `webhooks: [{url: "pms.hotel.example/k", secret_file: ` + good + `}]`, `webhooks[0].url: "pms.hotel.example/k" is not an absolute URL`},
		{"ftp", `webhooks: [{url: "ftp://pms.hotel.example/", secret_file: ` + good + `}]`, `webhooks[0].url: "ftp://pms.hotel.example/" must start with https://`},
		{"user in url", `webhooks: [{url: "https://u:p@pms.hotel.example/", secret_file: ` + good + `}]`, `webhooks[0].url: the URL holds a user or password`},
		{"twice", `webhooks: [{url: "https://pms.hotel.example/", secret_file: ` + good + `}, {url: "https://pms.hotel.example/", secret_file: ` + good + `}]`, `webhooks[1].url: "https://pms.hotel.example/" is also webhooks[0]`},
		{"no secret file", `webhooks: [{url: "https://pms.hotel.example/"}]`, `webhooks[0].secret_file: must not be empty`},
		{"missing secret file", `webhooks: [{url: "https://pms.hotel.example/", secret_file: ` + missing + `}]`, `webhooks[0].secret_file: ` + missing + ` does not exist`},
		{"short secret", `webhooks: [{url: "https://pms.hotel.example/", secret_file: ` + short + `}]`, `webhooks[0].secret_file: ` + short + ` holds 8 bytes; the secret needs at least 32`},
		{"readable secret", `webhooks: [{url: "https://pms.hotel.example/", secret_file: ` + open + `}]`, `webhooks[0].secret_file: ` + open + ` can be read by other users (mode 0644)`},
		{"secret is a folder", `webhooks: [{url: "https://pms.hotel.example/", secret_file: ` + dir + `}]`, `webhooks[0].secret_file: ` + dir + ` is not a regular file`},
		{"unknown event", `webhooks: [{url: "https://pms.hotel.example/", secret_file: ` + good + `, events: [stay.created, stay.deleted]}]`, `webhooks[0].events[1]: unknown event "stay.deleted"; use stay.created, stay.extended`},
		{"event twice", `webhooks: [{url: "https://pms.hotel.example/", secret_file: ` + good + `, events: [audit.head, audit.head]}]`, `webhooks[0].events[1]: "audit.head" is listed twice (also at [0])`},
		{"unknown field", `webhooks: [{url: "https://pms.hotel.example/", secret: abc}]`, `unknown field "secret" in webhooks[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yml), filepath.Join(dir, "keycard.yaml"))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			if n := strings.Count(err.Error(), "\n"); n > 1 {
				t.Errorf("want exactly one problem, got %d lines:\n%v", n, err)
			}
			if strings.Contains(err.Error(), goodSecret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}
