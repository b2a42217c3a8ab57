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

func TestPolicyVerify(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	client := selfSigned(t, x509.ExtKeyUsageClientAuth)
	server := selfSigned(t, x509.ExtKeyUsageServerAuth)
	dbDown := errors.New("database is locked")
	tests := []struct {
		name       string
		certs      []*x509.Certificate
		decide     vouchers.Decision
		decideErr  error
		wantReason vouchers.Reason
		wantErr    error // nil, dbDown, or *RefusedError
		refused    bool
	}{
		{"allowed", []*x509.Certificate{client}, vouchers.Decision{Allowed: true, Reason: vouchers.ReasonOK}, nil, vouchers.ReasonOK, nil, false},
		{"stay ended", []*x509.Certificate{client}, vouchers.Decision{Reason: vouchers.ReasonStayEnded}, nil, vouchers.ReasonStayEnded, nil, true},
		{"serverAuth only", []*x509.Certificate{server}, vouchers.Decision{Allowed: true}, nil, vouchers.ReasonNotClientCertificate, nil, true},
		{"no certificate", nil, vouchers.Decision{Allowed: true}, nil, reasonNoCertificate, nil, true},
		{"database down", []*x509.Certificate{client}, vouchers.Decision{}, dbDown, reasonServerError, dbDown, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sawNow time.Time
			p := &tlsPolicy{now: func() time.Time { return now }, authorizer: authorizerFunc(
				func(_ context.Context, _ *x509.Certificate, at time.Time) (vouchers.Decision, error) {
					sawNow = at
					return tt.decide, tt.decideErr
				})}
			c := &conversation{}
			err := p.verify(c, tls.ConnectionState{PeerCertificates: tt.certs})
			var refused *RefusedError
			if errors.As(err, &refused) != tt.refused {
				t.Errorf("err = %v, refused want %v", err, tt.refused)
			}
			if tt.refused && refused.Decision.Reason != tt.wantReason {
				t.Errorf("refused with %q", refused.Decision.Reason)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !tt.refused && tt.wantErr == nil && err != nil {
				t.Errorf("err = %v", err)
			}
			d, _ := c.result()
			if d == nil || d.Reason != tt.wantReason {
				t.Fatalf("decision kept with the conversation: %+v, want reason %q", d, tt.wantReason)
			}
			if tt.name == "allowed" && !sawNow.Equal(now) {
				t.Errorf("Authorizer saw time %v, want the injected %v", sawNow, now)
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
