package staff

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"keycard/vouchers"
)

// A whole working life of an account — added, set up, logged in, wrong
// passwords and codes, a recovery code, locked, reset, a new phone, a new
// password, API tokens — leaves no password, TOTP secret or code, recovery
// code, session token or API token in any audit row or log line (captured
// at debug level). Every other test checks the same when it ends.
func TestNoSecretInAuditOrLogs(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleAdmin)
	f.mustLogin(m, "10.0.0.5")
	f.s.Login(f.ctx, "alice", "a wrong guess at it", "10.0.0.9")
	f.clock.Advance(time.Second)
	p, _ := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5")
	f.secret(p.Token)
	f.s.SecondFactor(f.ctx, p.Token, "999999", "10.0.0.5")
	f.clock.Advance(time.Second)
	in, err := f.s.SecondFactor(f.ctx, p.Token, m.recovery[0], "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(in.Token)
	f.clock.Advance(30 * time.Second)
	e, err := f.s.BeginTOTPChange(f.ctx, in.Token, f.code(m.secret), "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(e.Secret, e.URL)
	f.clock.Advance(30 * time.Second)
	codes, err := f.s.ConfirmTOTPChange(f.ctx, in.Token, f.code(e.Secret), "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(codes...)
	m.secret = e.Secret
	f.clock.Advance(30 * time.Second)
	const next = "an entirely new passphrase"
	f.secret(next)
	in, err = f.s.ChangePassword(f.ctx, in.Token, m.password, f.code(m.secret), next, "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(in.Token)
	for range DefaultMaxFailedPasswords {
		f.s.Login(f.ctx, "alice", "guessing "+m.password, "10.0.0.9")
		f.secret("guessing " + m.password)
		f.clock.Advance(time.Minute)
	}
	pw, err := f.s.ResetPassword(f.ctx, admin, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(pw)
	f.s.ResetTOTP(f.ctx, admin, "alice")
	_, tok, _ := f.s.AddToken(f.ctx, admin, "pms", []Scope{ScopeRead})
	f.secret(tok)
	f.s.TokenByBearer(f.ctx, tok)
	f.s.TokenByBearer(f.ctx, tok[:len(tok)-2]+"zz")
	f.s.RevokeToken(f.ctx, admin, "pms")

	entries, _ := f.audit.AuditLog(f.ctx, 0)
	if len(entries) < 15 {
		t.Errorf("only %d audit rows for all that", len(entries))
	}
	if !strings.Contains(f.logs.String(), "staff account locked") {
		t.Errorf("the logs do not record the lock:\n%s", f.logs.String())
	}
	// The checker itself finds a secret where there is one.
	planted := []vouchers.AuditEntry{{ID: 1, Action: "x", Detail: "password " + strings.ReplaceAll(codes[0], "-", "")}}
	if len(findLeaks(planted, "", []string{codes[0]})) == 0 || len(findLeaks(nil, "tok="+tok, []string{tok})) == 0 {
		t.Errorf("findLeaks misses a planted secret")
	}
}

// Parallel guesses at one account all meet the delay the first one set:
// one password is checked, the rest are refused unchecked.
func TestParallelGuessesMeetTheDelay(t *testing.T) {
	f := newFixture(t)
	f.enrolled("alice", RoleFrontDesk)
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.s.Login(f.ctx, "alice", "parallel guess", "10.9.0.1")
		}()
	}
	wg.Wait()
	checked := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, ErrLoginFailed):
			checked++
		case !errors.Is(err, ErrTryLater):
			t.Errorf("unexpected %v", err)
		}
	}
	if checked != 1 {
		t.Errorf("%d of %d parallel guesses were checked, want 1", checked, n)
	}
}
