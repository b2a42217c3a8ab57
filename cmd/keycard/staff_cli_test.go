package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"keycard/internal/secretbox"
	"keycard/internal/store"
	"keycard/staff"
	"keycard/vouchers"
)

// runJSONArgs runs a command whose --json the caller placed (before a
// NAME argument) and decodes its output.
func (h *harness) runJSONArgs(v any, args ...string) {
	h.t.Helper()
	out := h.run(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		h.t.Fatalf("keycard %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// webSide is what the front-desk web app will do with the same database:
// log a member of staff in (password, TOTP set-up) and check the session.
type webSide struct {
	t  *testing.T
	db *sql.DB
	s  *staff.Store
}

func newWebSide(t *testing.T, h *harness) *webSide {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(h.dir, "data", "keycard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	salt, err := secretbox.Salt(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New([]byte(testPassphrase), salt)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := vouchers.New(db, vouchers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := staff.New(db, staff.Options{Audit: vs, Box: box})
	if err != nil {
		t.Fatal(err)
	}
	return &webSide{t: t, db: db, s: s}
}

// firstLogin logs name in with password and sets up TOTP, returning the
// session token.
func (w *webSide) firstLogin(name, password string) string {
	w.t.Helper()
	ctx := context.Background()
	p, err := w.s.Login(ctx, name, password, "127.0.0.1")
	if err != nil {
		w.t.Fatalf("login %s: %v", name, err)
	}
	e, err := w.s.BeginEnrolment(ctx, p.Token)
	if err != nil {
		w.t.Fatal(err)
	}
	code, _ := totp.GenerateCode(e.Secret, time.Now())
	in, err := w.s.ConfirmEnrolment(ctx, p.Token, code, "127.0.0.1")
	if err != nil {
		w.t.Fatal(err)
	}
	return in.Token
}

func (w *webSide) alive(token string) bool {
	_, _, err := w.s.SessionByToken(context.Background(), token, time.Now())
	if err != nil && !errors.Is(err, staff.ErrSessionInvalid) {
		w.t.Fatal(err)
	}
	return err == nil
}

func TestCLIStaffAccounts(t *testing.T) {
	h := newHarness(t)
	h.run("ca", "init")

	var alice staffView
	h.runJSON(&alice, "staff", "add", "--name", "alice", "--role", "front_desk")
	if alice.ID == 0 || alice.Role != "front_desk" || alice.TOTPEnrolled || !alice.MustChangePassword || len(alice.Password) < 20 {
		t.Fatalf("staff add --json = %+v, want a generated password and TOTP to set up", alice)
	}
	secrets := []string{alice.Password}

	pwFile := filepath.Join(h.dir, "bob.pw")
	const bobPassword = "a long passphrase for the back office"
	secrets = append(secrets, bobPassword)
	os.WriteFile(pwFile, []byte(bobPassword+"\n"), 0o600)
	out := h.run("staff", "add", "--name", "bob", "--role", "admin", "--password-file", pwFile)
	if strings.Contains(out, bobPassword) || !strings.Contains(out, `"bob" added (admin)`) || !strings.Contains(out, "authenticator app") {
		t.Errorf("staff add with a password file printed:\n%s", out)
	}
	text := h.run("staff", "add", "--name", "carol", "--role", "front-desk")
	if !strings.Contains(text, "Password (shown once") {
		t.Errorf("staff add printed:\n%s", text)
	}

	var list []staffView
	h.runJSON(&list, "staff", "list")
	if len(list) != 3 || list[0].Name != "alice" || list[1].Name != "bob" || list[0].Password != "" {
		t.Fatalf("staff list --json = %+v", list)
	}
	listed := h.run("staff", "list")
	for _, want := range []string{"NAME", "alice", "front_desk", "sets up TOTP at next login", "bob", "admin"} {
		if !strings.Contains(listed, want) {
			t.Errorf("staff list lacks %q:\n%s", want, listed)
		}
	}

	// The web app logs alice in; the admin's changes end her sessions.
	web := newWebSide(t, h)
	session := web.firstLogin("alice", alice.Password)
	if !web.alive(session) {
		t.Fatal("the web session is not alive")
	}
	h.runJSON(&list, "staff", "list")
	if !list[0].TOTPEnrolled || list[0].RecoveryCodesLeft != 10 || list[0].LastLoginAt == nil {
		t.Errorf("after the first login: %+v", list[0])
	}

	var disabled staffView
	h.runJSONArgs(&disabled, "staff", "disable", "--json", "alice")
	if disabled.DisabledAt == nil || web.alive(session) {
		t.Errorf("staff disable: %+v; session alive %v", disabled, web.alive(session))
	}
	if _, err := web.s.Login(context.Background(), "alice", alice.Password, "127.0.0.1"); !errors.Is(err, staff.ErrDisabled) {
		t.Errorf("login of a disabled account: %v", err)
	}
	h.run("staff", "enable", "alice")

	p, err := web.s.Login(context.Background(), "alice", alice.Password, "127.0.0.1")
	if err != nil || p.Enrol {
		t.Fatalf("login after enable: %+v %v", p, err)
	}
	var reset staffView
	h.runJSONArgs(&reset, "staff", "reset-password", "--json", "alice")
	if reset.Password == "" || reset.Password == alice.Password || !reset.MustChangePassword {
		t.Fatalf("staff reset-password --json = %+v", reset)
	}
	secrets = append(secrets, reset.Password)
	if _, err := web.s.SecondFactor(context.Background(), p.Token, "000000", "127.0.0.1"); !errors.Is(err, staff.ErrSessionInvalid) {
		t.Errorf("a login in progress survived the password reset: %v", err)
	}

	out = h.run("staff", "reset-2fa", "alice")
	if !strings.Contains(out, "TOTP of \"alice\" removed") || !strings.Contains(out, "password alone") {
		t.Errorf("staff reset-2fa printed:\n%s", out)
	}
	session = web.firstLogin("alice", reset.Password)
	h.run("staff", "reset-2fa", "alice")
	if web.alive(session) {
		t.Errorf("a session survived reset-2fa")
	}
	if _, err := web.s.Login(context.Background(), "alice", alice.Password, "127.0.0.1"); !errors.Is(err, staff.ErrLoginFailed) {
		t.Errorf("the old password after a reset: %v", err)
	}

	var promoted staffView
	h.runJSONArgs(&promoted, "staff", "set-role", "--role", "admin", "--json", "carol")
	if promoted.Role != "admin" {
		t.Errorf("set-role: %+v", promoted)
	}

	// Every change is audited with the CLI's actor, and no password is in
	// the log.
	var audit []vouchers.AuditEntry
	h.runJSON(&audit, "audit", "list", "--limit", "1000")
	seen := map[string]bool{}
	for _, a := range audit {
		seen[a.Action] = true
		for _, s := range secrets {
			if strings.Contains(a.Detail+a.Subject+a.Actor, s) {
				t.Errorf("audit row %d %s holds a password", a.ID, a.Action)
			}
		}
		if strings.HasPrefix(a.Action, "staff.") && a.Source == "cli" && !strings.HasPrefix(a.Actor, "admin") {
			t.Errorf("CLI change by %q", a.Actor)
		}
	}
	for _, want := range []string{"staff.add", "staff.disable", "staff.enable", "staff.password.reset", "staff.2fa.reset", "staff.role",
		"staff.login", "staff.2fa.enrol"} {
		if !seen[want] {
			t.Errorf("audit log lacks %s", want)
		}
	}
	h.run("audit", "verify")
}

func TestCLIStaffMistakes(t *testing.T) {
	h := newHarness(t)
	h.run("ca", "init")
	h.run("staff", "add", "--name", "alice", "--role", "admin")
	weak := filepath.Join(h.dir, "weak.pw")
	os.WriteFile(weak, []byte("Password1234!\n"), 0o600)
	empty := filepath.Join(h.dir, "empty.pw")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown role", []string{"staff", "add", "--name", "bob", "--role", "owner"}, "--role"},
		{"bad name", []string{"staff", "add", "--name", "Bob Smith", "--role", "admin"}, "lowercase letters"},
		{"duplicate", []string{"staff", "add", "--name", "ALICE", "--role", "admin"}, "exists"},
		{"weak password", []string{"staff", "add", "--name", "bob", "--role", "admin", "--password-file", weak}, "most common"},
		{"empty password file", []string{"staff", "add", "--name", "bob", "--role", "admin", "--password-file", empty}, "empty"},
		{"missing password file", []string{"staff", "add", "--name", "bob", "--role", "admin", "--password-file", weak + ".nope"}, "--password-file"},
		{"unknown account", []string{"staff", "disable", "nobody"}, "unknown account"},
		{"flags after the name", []string{"staff", "reset-password", "alice", "--password-file", weak}, "flags go before the NAME"},
		{"no name", []string{"staff", "reset-2fa"}, "give exactly one NAME"},
		{"weak reset", []string{"staff", "reset-password", "--password-file", weak, "alice"}, "most common"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.try(tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("keycard %s: %v, want an error saying %q", strings.Join(tc.args, " "), err, tc.want)
			}
			if strings.Contains(strings.TrimSpace(err.Error()), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	var list []staffView
	h.runJSON(&list, "staff", "list")
	if len(list) != 1 || list[0].MustChangePassword != true {
		t.Errorf("mistakes changed the accounts: %+v", list)
	}
}

func TestCLIToken(t *testing.T) {
	h := newHarness(t)
	h.run("ca", "init")

	var pms tokenView
	h.runJSON(&pms, "token", "add", "--name", "opera-pms", "--scope", "read", "--scope", "stays")
	if !strings.HasPrefix(pms.Token, "kc_") || len(pms.Token) != 46 || strings.Join(pms.Scopes, " ") != "read stays" || pms.CreatedBy == "" {
		t.Fatalf("token add --json = %+v", pms)
	}
	out := h.run("token", "add", "--name", "housekeeping", "--scope", "read,devices")
	if !strings.Contains(out, "shown once") || !strings.Contains(out, "Authorization: Bearer") || !strings.Contains(out, "kc_") {
		t.Errorf("token add printed:\n%s", out)
	}
	var housekeepingToken string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "kc_") {
			housekeepingToken = l
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "add", "--name", "x1", "--scope", "write"}, "unknown scope"},
		{[]string{"token", "add", "--name", "x1"}, "scope"},
		{[]string{"token", "add", "--name", "opera-pms", "--scope", "read"}, "opera-pms"},
		{[]string{"token", "revoke", "nope"}, "unknown API token"},
	} {
		if _, err := h.try(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("keycard %s: %v, want an error saying %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}

	web := newWebSide(t, h)
	tok, err := web.s.TokenByBearer(context.Background(), pms.Token)
	if err != nil || !tok.Has(staff.ScopeStays) || tok.Has(staff.ScopeDevices) {
		t.Fatalf("TokenByBearer: %+v %v", tok, err)
	}

	var list []tokenView
	h.runJSON(&list, "token", "list")
	if len(list) != 2 || list[1].Name != "opera-pms" || list[1].Token != "" || list[1].LastUsedAt == nil {
		t.Fatalf("token list --json = %+v", list)
	}
	listed := h.run("token", "list")
	if strings.Contains(listed, pms.Token) || strings.Contains(listed, housekeepingToken) || !strings.Contains(listed, "read,stays") {
		t.Errorf("token list printed:\n%s", listed)
	}

	var revoked tokenView
	h.runJSONArgs(&revoked, "token", "revoke", "--json", "opera-pms")
	if revoked.RevokedAt == nil {
		t.Errorf("token revoke: %+v", revoked)
	}
	if _, err := web.s.TokenByBearer(context.Background(), pms.Token); !errors.Is(err, staff.ErrTokenInvalid) {
		t.Errorf("a revoked token: %v", err)
	}
	h.runJSON(&list, "token", "list")
	if len(list) != 1 {
		t.Errorf("token list after revoke: %+v", list)
	}
	h.runJSON(&list, "token", "list", "--all")
	if len(list) != 2 {
		t.Errorf("token list --all: %+v", list)
	}

	var audit []vouchers.AuditEntry
	h.runJSON(&audit, "audit", "list", "--limit", "1000")
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
		if strings.Contains(a.Detail, "kc_") || strings.Contains(a.Detail, pms.Token[3:]) {
			t.Errorf("audit row %d holds a token: %q", a.ID, a.Detail)
		}
	}
	if got := strings.Join(actions, " "); !strings.Contains(got, "token.revoke") || strings.Count(got, "token.add") != 2 {
		t.Errorf("audit actions %s", got)
	}
}
