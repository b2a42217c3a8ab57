package configs

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
)

// WebhookConfig is one receiver of Keycard's events (package webhooks):
// the hotel's PMS, a door-lock or billing system, a log archive. Each event
// is POSTed as JSON, signed with the secret, and retried until the
// receiver answers 2xx.
type WebhookConfig struct {
	// URL receives the events: https, or http only to a loopback address
	// (a relay on the same host, tests).
	URL string `yaml:"url"`
	// SecretFile holds the shared secret that signs every request (at
	// least 32 bytes; surrounding whitespace is not part of it), readable by
	// Keycard's user only. Relative to the config file's folder.
	SecretFile string `yaml:"secret_file"`
	// Events are the event types sent; empty: all of them (WebhookEvents).
	Events []string `yaml:"events"`
}

// WebhookEvents are the event types a webhook can take, as package
// webhooks names them (cmd checks the two lists agree).
func WebhookEvents() []string {
	return []string{"stay.created", "stay.extended", "stay.ended", "device.enrolled", "device.revoked",
		"session.started", "session.stopped", "audit.head"}
}

// minWebhookSecret is the shortest secret accepted, in bytes.
const minWebhookSecret = 32

// maxWebhookSecretFile bounds what Secret reads.
const maxWebhookSecretFile = 64 << 10

// Secret reads the webhook's secret from SecretFile: the file's contents
// without surrounding whitespace. A file readable by group or others, or
// shorter than 32 bytes, is refused. The secret is never part of the
// config file itself, nor of an error message.
func (w WebhookConfig) Secret() ([]byte, error) {
	f, err := os.Open(w.SecretFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist; create it with a random secret of at least %d bytes (e.g. `openssl rand -hex 32 > %s; chmod 600 %s`) and give the receiver the same", w.SecretFile, minWebhookSecret, w.SecretFile, w.SecretFile)
		}
		return nil, fmt.Errorf("cannot be read: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", w.SecretFile)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s can be read by other users (mode %04o); run: chmod 600 %s", w.SecretFile, perm, w.SecretFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxWebhookSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %w", err)
	}
	if len(data) > maxWebhookSecretFile {
		return nil, fmt.Errorf("%s is over 64 KiB; it should hold only the secret", w.SecretFile)
	}
	secret := []byte(strings.TrimSpace(string(data)))
	clear(data)
	if len(secret) < minWebhookSecret {
		n := len(secret)
		clear(secret)
		return nil, fmt.Errorf("%s holds %d bytes; the secret needs at least %d (e.g. `openssl rand -hex 32 > %s`)", w.SecretFile, n, minWebhookSecret, w.SecretFile)
	}
	return secret, nil
}

// validateWebhooks checks the webhooks section. Relative secret files
// are resolved here, against the config file's folder, rather than in
// Init, so that the section stays in this file.
func (c *Config) validateWebhooks(v *validator) {
	urls := map[string]int{}
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		path := fmt.Sprintf("webhooks[%d]", i)
		w.SecretFile = c.resolve(w.SecretFile)
		if v.required(path+".url", w.URL) {
			v.webhookURL(path+".url", w.URL)
			if j, ok := urls[w.URL]; ok {
				v.bad(path+".url", "%q is also webhooks[%d]; list each receiver once (with the events it wants)", w.URL, j)
			}
			urls[w.URL] = i
		}
		if v.required(path+".secret_file", w.SecretFile) {
			if secret, err := w.Secret(); err != nil {
				v.bad(path+".secret_file", "%v", err)
			} else {
				clear(secret)
			}
		}
		known := WebhookEvents()
		for j, e := range w.Events {
			p := fmt.Sprintf("%s.events[%d]", path, j)
			switch {
			case !slices.Contains(known, e):
				v.bad(p, "unknown event %q; use %s (or leave events out for all of them)", e, strings.Join(known, ", "))
			case slices.Index(w.Events, e) < j:
				v.bad(p, "%q is listed twice (also at [%d]); remove one", e, slices.Index(w.Events, e))
			}
		}
	}
}

// webhookURL checks a webhook's URL: https, or http to a loopback
// address only (events carry guest names).
func (v *validator) webhookURL(path, raw string) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		v.bad(path, "%q is not an absolute URL; write it like \"https://pms.hotel.example/keycard\"", raw)
		return
	}
	if u.User != nil {
		v.bad(path, "the URL holds a user or password; leave them out (the signature made with secret_file authenticates Keycard)")
		return
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			v.bad(path, "%q must start with https:// (plain http only to a loopback address such as 127.0.0.1)", raw)
		}
	default:
		v.bad(path, "%q must start with https://", raw)
	}
}
