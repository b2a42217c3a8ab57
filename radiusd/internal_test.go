package radiusd

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"log/slog"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"keycard/internal/secretbox"
	"keycard/internal/store"
	"keycard/vouchers"
)

type authorizerFunc func(ctx context.Context, cert *x509.Certificate, now time.Time) (vouchers.Decision, error)

func (f authorizerFunc) Authorize(ctx context.Context, cert *x509.Certificate, now time.Time) (vouchers.Decision, error) {
	return f(ctx, cert, now)
}

func selfSigned(t *testing.T, usage ...x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0), ExtKeyUsage: usage}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// VerifyConnection (before the device has proven its key) looks only at
// the certificate itself; it never asks the stay policy.
func TestPolicyVerify(t *testing.T) {
	client := selfSigned(t, x509.ExtKeyUsageClientAuth)
	server := selfSigned(t, x509.ExtKeyUsageServerAuth)
	tests := []struct {
		name       string
		certs      []*x509.Certificate
		wantReason vouchers.Reason // "" for no refusal
	}{
		{"client certificate", []*x509.Certificate{client}, ""},
		{"serverAuth only", []*x509.Certificate{server}, vouchers.ReasonNotClientCertificate},
		{"no certificate", nil, reasonNoCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &tlsPolicy{authorizer: authorizerFunc(func(context.Context, *x509.Certificate, time.Time) (vouchers.Decision, error) {
				t.Fatal("VerifyConnection asked the stay policy before the device proved its key")
				return vouchers.Decision{}, nil
			})}
			c := &conversation{}
			err := p.verify(c, tls.ConnectionState{PeerCertificates: tt.certs})
			var refused *RefusedError
			if got := errors.As(err, &refused); got != (tt.wantReason != "") {
				t.Fatalf("err = %v, want refused %v", err, tt.wantReason != "")
			}
			if tt.wantReason != "" && refused.Decision.Reason != tt.wantReason {
				t.Errorf("refused with %q, want %q", refused.Decision.Reason, tt.wantReason)
			}
		})
	}
}

// After the handshake the stay policy decides, at the injected time; a
// refusal drops the session tickets held in the conversation.
func TestPolicyAuthorize(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	client := selfSigned(t, x509.ExtKeyUsageClientAuth)
	dbDown := errors.New("database is locked")
	tests := []struct {
		name        string
		decide      vouchers.Decision
		decideErr   error
		wantReason  vouchers.Reason
		wantTickets bool
	}{
		{"allowed", vouchers.Decision{Allowed: true, Reason: vouchers.ReasonOK, Remaining: 3 * time.Hour}, nil, vouchers.ReasonOK, true},
		{"stay ended", vouchers.Decision{Reason: vouchers.ReasonStayEnded}, nil, vouchers.ReasonStayEnded, false},
		{"database down", vouchers.Decision{}, dbDown, reasonServerError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sawNow time.Time
			p := &tlsPolicy{now: func() time.Time { return now }, authorizer: authorizerFunc(
				func(_ context.Context, _ *x509.Certificate, at time.Time) (vouchers.Decision, error) {
					sawNow = at
					return tt.decide, tt.decideErr
				}),
				tickets: newTicketStore(16, func() time.Time { return now }, rand.Reader)}
			c := &conversation{}
			ss := &tls.SessionState{}
			h, err := p.tickets.seal(now.Add(time.Hour), ss)
			if err != nil {
				t.Fatal(err)
			}
			c.holdTicket(h)
			d, err := p.authorize(context.Background(), c, client)
			if tt.decideErr != nil && !errors.Is(err, tt.decideErr) {
				t.Errorf("err = %v, want %v", err, tt.decideErr)
			}
			if d.Reason != tt.wantReason {
				t.Errorf("reason %q, want %q", d.Reason, tt.wantReason)
			}
			if got, _ := c.result(); got == nil || got.Reason != tt.wantReason {
				t.Errorf("decision kept with the conversation: %+v", got)
			}
			if !sawNow.Equal(now) {
				t.Errorf("Authorizer saw time %v, want the injected %v", sawNow, now)
			}
			// The ticket resumes only once the Access-Accept commits it,
			// which only an admitted device gets to.
			if _, stored := p.tickets.sessions.Peek(h.handle); stored {
				t.Error("ticket stored before the Access-Accept")
			}
			if d.Allowed {
				p.commitTickets(c)
			}
			if tk, stored := p.tickets.sessions.Peek(h.handle); stored != tt.wantTickets {
				t.Errorf("ticket stored = %v, want %v", stored, tt.wantTickets)
			} else if stored && !tk.notAfter.Equal(now.Add(tt.decide.Remaining)) {
				// The stay's end, not the certificate's: after an extension
				// the session resumes until the new check-out.
				t.Errorf("ticket resumes until %v, want the admitted stay's end %v", tk.notAfter, now.Add(tt.decide.Remaining))
			}
			p.commitTickets(c) // a refusal dropped them: nothing to commit
			if _, stored := p.tickets.sessions.Peek(h.handle); stored != tt.wantTickets {
				t.Errorf("after a second commit, ticket stored = %v, want %v", stored, tt.wantTickets)
			}
		})
	}
}

func TestDropLogRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	d := newDropLog(slog.New(slog.NewTextHandler(&buf, nil)), func() time.Time { return now })
	d.max = 3
	for range 100 {
		d.log(dropBadMsgAuth, "ap-lobby", "10.0.0.5:1645", nil)
	}
	d.log(dropBadMsgAuth, "ap-bar", "10.0.0.6:1645", nil)
	d.log(dropShort, "ap-lobby", "10.0.0.5:1645", nil)
	if n := strings.Count(buf.String(), "packet dropped"); n != 3 {
		t.Fatalf("%d lines, want 3 (one per cause and source)", n)
	}
	// The table is full: a new source is counted but not logged...
	d.log(dropUnknownNAS, "192.0.2.1", "192.0.2.1:1", nil)
	if n := strings.Count(buf.String(), "packet dropped"); n != 3 {
		t.Errorf("%d lines with a full table", n)
	}
	// ...until a minute has passed.
	now = now.Add(time.Minute)
	d.log(dropUnknownNAS, "192.0.2.1", "192.0.2.1:1", nil)
	d.log(dropBadMsgAuth, "ap-lobby", "10.0.0.5:1645", nil)
	if n := strings.Count(buf.String(), "packet dropped"); n != 5 {
		t.Errorf("%d lines after a minute, want 5", n)
	}
}

type nopAuditor struct{}

func (nopAuditor) AuditTx(context.Context, *sql.Tx, vouchers.Actor, string, string, string) error {
	return nil
}

func TestNASStoreSeesOtherProcess(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir()+"/keycard.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New([]byte("passphrase"), bytes.Repeat([]byte{1}, 16))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	server := NewNASStore(db, box, nopAuditor{}) // the serve process
	server.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	cli := NewNASStore(db, box, nopAuditor{}) // the keycard nas command
	cli.SetLogger(slog.New(slog.DiscardHandler))
	if err := server.Reload(ctx); err != nil {
		t.Fatal(err)
	}

	if changed, err := server.reloadIfChanged(ctx); changed || err != nil {
		t.Fatalf("nothing changed: %v %v", changed, err)
	}
	if _, err := cli.Add(ctx, vouchers.Actor{Name: "admin"}, NAS{Name: "old-switch", Network: netip.MustParsePrefix("10.0.9.9/32"), AllowMissingMessageAuthenticator: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := server.Lookup(netip.MustParseAddr("10.0.9.9")); ok {
		t.Fatal("seen before reload")
	}
	if changed, err := server.reloadIfChanged(ctx); !changed || err != nil {
		t.Fatalf("add not noticed: %v %v", changed, err)
	}
	if _, ok := server.Lookup(netip.MustParseAddr("10.0.9.9")); !ok {
		t.Fatal("not seen after reload")
	}
	// The opt-out is loud and counted.
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "old-switch") {
		t.Errorf("no warning for a NAS without Message-Authenticator:\n%s", logs.String())
	}
	if server.MessageAuthenticatorOptOuts() != 1 {
		t.Errorf("opt-outs = %d", server.MessageAuthenticatorOptOuts())
	}
	if err := cli.Remove(ctx, vouchers.Actor{Name: "admin"}, "old-switch"); err != nil {
		t.Fatal(err)
	}
	if changed, _ := server.reloadIfChanged(ctx); !changed {
		t.Fatal("removal not noticed")
	}
	if _, ok := server.Lookup(netip.MustParseAddr("10.0.9.9")); ok {
		t.Fatal("removed NAS still answers")
	}
}
