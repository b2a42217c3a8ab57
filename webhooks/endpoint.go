package webhooks

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
)

// Endpoint is one receiver: where events go, the secret that signs them
// and which events it wants.
type Endpoint struct {
	// URL receives the POSTs: https, or http to a loopback address (tests,
	// a local relay). It names the endpoint in the outbox, so changing it
	// starts the endpoint afresh.
	URL string
	// Secret signs every request (at least 32 bytes). It is never logged:
	// String, GoString and LogValue show the URL only.
	Secret []byte
	// Events are the event types sent (EventTypes); empty: all of them.
	Events []string
}

// Wants reports whether the endpoint takes events of type t.
func (e Endpoint) Wants(t string) bool {
	return len(e.Events) == 0 || slices.Contains(e.Events, t)
}

// String names the endpoint for people and logs: its URL without any
// user information.
func (e Endpoint) String() string { return redactURL(e.URL) }

// GoString keeps %#v from printing the secret.
func (e Endpoint) GoString() string { return fmt.Sprintf("webhooks.Endpoint{URL: %q}", e.String()) }

// LogValue keeps slog from printing the secret.
func (e Endpoint) LogValue() slog.Value { return slog.StringValue(e.String()) }

var _ slog.LogValuer = Endpoint{}

// MinSecretLen is the shortest secret accepted: 32 bytes, as long as the
// HMAC-SHA256 key that gives full strength.
const MinSecretLen = 32

// check validates an endpoint.
func (e Endpoint) check() error {
	if err := CheckURL(e.URL); err != nil {
		return err
	}
	if len(e.Secret) < MinSecretLen {
		return fmt.Errorf("webhooks: endpoint %s: the secret is %d bytes, at least %d are needed", e, len(e.Secret), MinSecretLen)
	}
	for _, t := range e.Events {
		if !knownType(t) {
			return fmt.Errorf("webhooks: endpoint %s: unknown event type %q", e, t)
		}
	}
	return nil
}

// CheckURL accepts an absolute https URL, or http to a loopback address
// (127.0.0.0/8, ::1, localhost): events carry guest names, and the
// signature proves where they came from, not that nobody read them.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("webhooks: endpoint URL: %w", err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("webhooks: endpoint URL %q has no host", redactURL(raw))
	}
	if u.User != nil {
		return errors.New("webhooks: endpoint URL must not hold a user or password; the signature authenticates Keycard")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("webhooks: endpoint URL %q must be https (plain http only to a loopback address)", redactURL(raw))
	}
	return fmt.Errorf("webhooks: endpoint URL %q must be https", redactURL(raw))
}

// IsLoopback reports whether host (no port) is a loopback address or
// "localhost".
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURL is raw without user information (which CheckURL refuses
// anyway), for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}
