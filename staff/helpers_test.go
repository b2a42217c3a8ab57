package staff

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"keycard/internal/secretbox"
	"keycard/internal/store"
	"keycard/vouchers"
)

// t0 is "now" at the start of every test: noon on a summer day, on a TOTP
// step boundary.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testParams keeps password hashing cheap; the hashing tests raise it.
var testParams = PasswordParams{Memory: 64, Time: 1, Threads: 1}

var admin = vouchers.Actor{Name: "admin:root", Source: "cli"}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The box costs a real argon2id derivation: make it once.
var (
	boxOnce sync.Once
	box     *secretbox.Box
)

func testBox(t *testing.T) *secretbox.Box {
	t.Helper()
	boxOnce.Do(func() {
		var err error
		box, err = secretbox.New([]byte("test passphrase"), bytes.Repeat([]byte{7}, secretbox.SaltSize))
		if err != nil {
			panic(err)
		}
	})
	return box
}

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is a Store on a fresh in-memory database with the real audit log,
// a fake clock, deterministic randomness and captured logs. Every secret
// the test handles is remembered; when the test ends, no audit row and no
// log line may contain one of them.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	db      *sql.DB
	clock   *fakeClock
	audit   *vouchers.Store
	s       *Store
	logs    *syncBuffer
	opts    Options
	secrets []string
}

func newFixture(t *testing.T, tweak ...func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, m := range []func(context.Context, *sql.DB) error{vouchers.Migrate, Migrate} {
		if err := m(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	if err := Check(ctx, db); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, db: db, clock: &fakeClock{t: t0}, logs: &syncBuffer{}}
	if f.audit, err = vouchers.New(db, vouchers.Options{Now: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	f.opts = Options{
		Audit:    f.audit,
		Box:      testBox(t),
		Password: testParams,
		Location: time.UTC,
		Now:      f.clock.Now,
		Rand:     mrand.NewChaCha8([32]byte{1, 2, 3}),
		Logger:   slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, fn := range tweak {
		fn(&f.opts)
	}
	f.s = f.newStore(f.opts)
	t.Cleanup(f.checkNoSecrets)
	return f
}

func (f *fixture) newStore(opts Options) *Store {
	f.t.Helper()
	s, err := New(f.db, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// secret remembers values that must never reach the audit log or the logs.
func (f *fixture) secret(vs ...string) {
	for _, v := range vs {
		if v != "" {
			f.secrets = append(f.secrets, v)
		}
	}
}

func (f *fixture) checkNoSecrets() {
	entries, err := f.audit.AuditLog(f.ctx, 0)
	if err != nil {
		f.t.Errorf("audit log: %v", err)
		return
	}
	for _, leak := range findLeaks(entries, f.logs.String(), f.secrets) {
		f.t.Error(leak)
	}
	if err := f.audit.VerifyAudit(f.ctx); err != nil {
		f.t.Errorf("audit chain: %v", err)
	}
}

// findLeaks reports each secret (with or without its dashes) found in an
// audit row's fields or in the logs.
func findLeaks(entries []vouchers.AuditEntry, logs string, secrets []string) []string {
	var out []string
	for _, secret := range secrets {
		for _, v := range []string{secret, strings.ReplaceAll(secret, "-", "")} {
			for _, e := range entries {
				if strings.Contains(e.Actor+"\x00"+e.Source+"\x00"+e.Action+"\x00"+e.Subject+"\x00"+e.Detail, v) {
					out = append(out, fmt.Sprintf("audit row %d (%s %s) contains the secret %q: %q", e.ID, e.Action, e.Subject, v, e.Detail))
				}
			}
			if strings.Contains(logs, v) {
				out = append(out, fmt.Sprintf("the logs contain the secret %q", v))
			}
		}
	}
	return out
}

// add makes an account with a generated password.
func (f *fixture) add(name string, role Role) (Account, string) {
	f.t.Helper()
	a, password, err := f.s.Add(f.ctx, admin, NewAccount{Name: name, Role: role})
	if err != nil {
		f.t.Fatal(err)
	}
	f.secret(password)
	return a, password
}

// code is the TOTP code of secret now.
func (f *fixture) code(secret string) string {
	f.t.Helper()
	c, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	f.secret(c)
	return c
}

// staffMember is an account that has logged in once and set up TOTP.
type staffMember struct {
	Account
	password string
	secret   string
	recovery []string
	session  LoggedIn
}

// enrolled adds an account and takes it through its first login.
func (f *fixture) enrolled(name string, role Role) *staffMember {
	f.t.Helper()
	a, password := f.add(name, role)
	p, err := f.s.Login(f.ctx, name, password, "10.0.0.5")
	if err != nil {
		f.t.Fatal(err)
	}
	f.secret(p.Token)
	if !p.Enrol {
		f.t.Fatalf("a new account's first login does not ask to set up TOTP")
	}
	e, err := f.s.BeginEnrolment(f.ctx, p.Token)
	if err != nil {
		f.t.Fatal(err)
	}
	f.secret(e.Secret)
	in, err := f.s.ConfirmEnrolment(f.ctx, p.Token, f.code(e.Secret), "10.0.0.5")
	if err != nil {
		f.t.Fatal(err)
	}
	f.secret(in.Token)
	f.secret(in.RecoveryCodes...)
	f.clock.Advance(30 * time.Second) // the next code is a new one
	return &staffMember{Account: a, password: password, secret: e.Secret, recovery: in.RecoveryCodes, session: in}
}

// login logs m in with password and TOTP from client.
func (f *fixture) login(m *staffMember, client string) (LoggedIn, error) {
	f.t.Helper()
	p, err := f.s.Login(f.ctx, m.Name, m.password, client)
	if err != nil {
		return LoggedIn{}, err
	}
	f.secret(p.Token)
	in, err := f.s.SecondFactor(f.ctx, p.Token, f.code(m.secret), client)
	f.secret(in.Token)
	return in, err
}

func (f *fixture) mustLogin(m *staffMember, client string) LoggedIn {
	f.t.Helper()
	in, err := f.login(m, client)
	if err != nil {
		f.t.Fatalf("login %s: %v", m.Name, err)
	}
	f.clock.Advance(30 * time.Second)
	return in
}

// actions lists the audit log's actions, oldest first.
func (f *fixture) actions() []string {
	f.t.Helper()
	entries, err := f.audit.AuditLog(f.ctx, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	out := make([]string, 0, len(entries))
	for i := len(entries) - 1; i >= 0; i-- {
		out = append(out, entries[i].Action)
	}
	return out
}

func (f *fixture) lastAudit(action string) vouchers.AuditEntry {
	f.t.Helper()
	entries, err := f.audit.AuditLog(f.ctx, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == action {
			return e
		}
	}
	f.t.Fatalf("no %s in the audit log: %v", action, f.actions())
	return vouchers.AuditEntry{}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}
