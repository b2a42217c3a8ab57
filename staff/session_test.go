package staff

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

var sessionToken = regexp.MustCompile(`^kcs_[A-Za-z0-9_-]{43}$`)

// A session ends after 30 minutes without use, and 12 hours after login
// however busy; use within the idle timeout keeps it going.
func TestSessionIdleTimeoutAndLifetime(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	in := m.session
	if !sessionToken.MatchString(in.Token) {
		t.Fatalf("session token %q", in.Token)
	}
	start := in.Session.CreatedAt
	if !in.Session.ExpiresAt.Equal(start.Add(12*time.Hour)) || !in.Session.IdleUntil.Equal(start.Add(30*time.Minute)) {
		t.Errorf("session %+v: want 12h lifetime, 30m idle", in.Session)
	}
	now := start
	for now.Add(29 * time.Minute).Before(start.Add(12 * time.Hour)) {
		now = now.Add(29 * time.Minute)
		sess, _, err := f.s.SessionByToken(f.ctx, in.Token, now)
		if err != nil {
			t.Fatalf("in use every 29 minutes, refused at %v: %v", now.Sub(start), err)
		}
		if !sess.LastSeenAt.Equal(now) {
			t.Fatalf("last seen %v, want %v", sess.LastSeenAt, now)
		}
	}
	_, _, err := f.s.SessionByToken(f.ctx, in.Token, start.Add(12*time.Hour))
	wantErr(t, err, ErrSessionInvalid)
	if !strings.Contains(err.Error(), "lifetime over") {
		t.Errorf("err = %v", err)
	}

	in = f.mustLogin(m, "10.0.0.5")
	start = in.Session.CreatedAt
	if _, _, err := f.s.SessionByToken(f.ctx, in.Token, start.Add(30*time.Minute-time.Second)); err != nil {
		t.Fatalf("29m59s idle: %v", err)
	}
	_, _, err = f.s.SessionByToken(f.ctx, in.Token, start.Add(30*time.Minute-time.Second+30*time.Minute))
	wantErr(t, err, ErrSessionInvalid)
	if !strings.Contains(err.Error(), "idle") {
		t.Errorf("err = %v", err)
	}
	// Dead sessions stay dead.
	if _, _, err := f.s.SessionByToken(f.ctx, in.Token, start.Add(time.Minute)); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("an idle session came back: %v", err)
	}
}

// The last-seen time is written at most once a minute, and the idle
// timeout errs early rather than late.
func TestSessionTouchIsThrottled(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	start := m.session.Session.CreatedAt
	sess, _, err := f.s.SessionByToken(f.ctx, m.session.Token, start.Add(20*time.Second))
	if err != nil || !sess.LastSeenAt.Equal(start) {
		t.Fatalf("20s later last seen = %v (%v), want unchanged", sess.LastSeenAt, err)
	}
	if _, _, err := f.s.SessionByToken(f.ctx, m.session.Token, start.Add(30*time.Minute)); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("the unrecorded use stretched the idle timeout: %v", err)
	}
}

func TestSessionOptions(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.IdleTimeout, o.SessionLifetime = 5*time.Minute, time.Hour })
	m := f.enrolled("alice", RoleFrontDesk)
	if s := m.session.Session; s.ExpiresAt.Sub(s.CreatedAt) != time.Hour || s.IdleUntil.Sub(s.CreatedAt) != 5*time.Minute {
		t.Errorf("session %+v, want the configured 1h and 5m", s)
	}
	if _, err := New(f.db, Options{Audit: f.audit, IdleTimeout: 2 * time.Hour, SessionLifetime: time.Hour}); err == nil {
		t.Errorf("an idle timeout past the lifetime was accepted")
	}
}

// Logout ends one session; a disabled account's sessions are refused and
// it cannot log in; Enable lets it back.
func TestLogoutAndDisable(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	other := f.mustLogin(m, "10.0.0.6")
	if err := f.s.EndSession(f.ctx, m.session.Token, "10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.SessionByToken(f.ctx, m.session.Token, f.clock.Now()); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("after logout: %v", err)
	}
	if err := f.s.EndSession(f.ctx, m.session.Token, "10.0.0.5"); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("a second logout: %v", err)
	}
	if e := f.lastAudit("staff.logout"); e.Actor != "staff:alice" || e.Source != "10.0.0.5" {
		t.Errorf("logout audit = %+v", e)
	}
	if _, _, err := f.s.SessionByToken(f.ctx, other.Token, f.clock.Now()); err != nil {
		t.Fatalf("logout ended another session: %v", err)
	}
	if list, _ := f.s.Sessions(f.ctx, m.ID); len(list) != 1 || list[0].ID != other.Session.ID || list[0].Client != "10.0.0.6" {
		t.Errorf("Sessions = %+v", list)
	}

	// Disabled in the database behind the Store's back (another process):
	// the next request is refused all the same.
	if _, err := f.db.Exec(`UPDATE staff SET disabled_at = 1 WHERE name = 'alice'`); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.s.SessionByToken(f.ctx, other.Token, f.clock.Now())
	wantErr(t, err, ErrSessionInvalid)
	if !strings.Contains(err.Error(), "disabled") {
		t.Errorf("err = %v", err)
	}
	f.db.Exec(`UPDATE staff SET disabled_at = NULL WHERE name = 'alice'`)

	third := f.mustLogin(m, "10.0.0.7")
	a, err := f.s.Disable(f.ctx, admin, "alice")
	if err != nil || a.DisabledAt == nil {
		t.Fatalf("Disable: %+v %v", a, err)
	}
	if d := f.lastAudit("staff.disable").Detail; d != "1 session ended" {
		t.Errorf("disable audit: %q", d)
	}
	if _, _, err := f.s.SessionByToken(f.ctx, third.Token, f.clock.Now()); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("a disabled account's session: %v", err)
	}
	if _, _, err := f.s.CreateSession(f.ctx, m.ID, "10.0.0.5"); !errors.Is(err, ErrDisabled) {
		t.Errorf("CreateSession for a disabled account: %v", err)
	}
	if _, err := f.s.Login(f.ctx, "alice", "not the password", "10.0.0.5"); !errors.Is(err, ErrLoginFailed) {
		t.Errorf("a disabled account with a wrong password: %v (it must not say disabled)", err)
	}
	f.clock.Advance(time.Second)
	if _, err := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5"); !errors.Is(err, ErrDisabled) {
		t.Errorf("a disabled account with the right password: %v", err)
	}
	if _, err := f.s.Enable(f.ctx, admin, "alice"); err != nil {
		t.Fatal(err)
	}
	f.mustLogin(m, "10.0.0.5")
}

// Changing one's password needs the current password and a current code;
// it ends every session of the account and gives the caller a new one.
func TestPasswordChangeEndsAllSessions(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	desk := f.mustLogin(m, "10.0.0.6")
	const next = "a new long passphrase for the desk"
	f.secret(next)

	_, err := f.s.ChangePassword(f.ctx, m.session.Token, m.password, "000000", next, "10.0.0.5")
	wantErr(t, err, ErrCodeInvalid)
	f.clock.Advance(time.Second)
	_, err = f.s.ChangePassword(f.ctx, m.session.Token, "not the password", f.code(m.secret), next, "10.0.0.5")
	wantErr(t, err, ErrWrongPassword)
	f.clock.Advance(2 * time.Second)
	_, err = f.s.ChangePassword(f.ctx, m.session.Token, m.password, f.code(m.secret), "Password2026!", "10.0.0.5")
	wantErr(t, err, ErrWeakPassword)
	if _, _, err := f.s.SessionByToken(f.ctx, desk.Token, f.clock.Now()); err != nil {
		t.Fatalf("a refused change ended sessions: %v", err)
	}

	in, err := f.s.ChangePassword(f.ctx, m.session.Token, m.password, f.code(m.secret), next, "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(in.Token)
	for _, old := range []string{m.session.Token, desk.Token} {
		if _, _, err := f.s.SessionByToken(f.ctx, old, f.clock.Now()); !errors.Is(err, ErrSessionInvalid) {
			t.Errorf("a session survived the password change: %v", err)
		}
	}
	if _, a, err := f.s.SessionByToken(f.ctx, in.Token, f.clock.Now()); err != nil || a.MustChangePassword {
		t.Errorf("the new session: %+v %v", a, err)
	}
	if d := f.lastAudit("staff.password.change").Detail; !strings.Contains(d, "2 sessions ended") {
		t.Errorf("audit: %q", d)
	}
	f.clock.Advance(30 * time.Second)
	if _, err := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5"); !errors.Is(err, ErrLoginFailed) {
		t.Errorf("the old password still works: %v", err)
	}
	f.clock.Advance(time.Second)
	m.password = next
	f.mustLogin(m, "10.0.0.5")

	// An admin's reset ends them too.
	s1 := f.mustLogin(m, "10.0.0.5")
	if _, err := f.s.ResetPassword(f.ctx, admin, "alice", "the admin chose this one"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.SessionByToken(f.ctx, s1.Token, f.clock.Now()); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("a session survived ResetPassword: %v", err)
	}
	if a, _ := f.s.Account(f.ctx, "alice"); !a.MustChangePassword {
		t.Errorf("after an admin reset the holder is not asked to change it")
	}
	n, err := f.s.EndAllSessions(f.ctx, admin, m.ID)
	if err != nil || n != 0 {
		t.Errorf("EndAllSessions = %d %v", n, err)
	}
}

// A new phone: the current code shows a new secret; a code from the new
// app makes it the account's; the old one stops working and the other
// sessions end.
func TestTOTPChange(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	other := f.mustLogin(m, "10.0.0.6")
	if _, err := f.s.BeginTOTPChange(f.ctx, m.session.Token, "000000", "10.0.0.5"); !errors.Is(err, ErrCodeInvalid) {
		t.Fatalf("BeginTOTPChange without the current code: %v", err)
	}
	f.clock.Advance(time.Second)
	e, err := f.s.BeginTOTPChange(f.ctx, m.session.Token, f.code(m.secret), "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(e.Secret)
	if e.Secret == m.secret {
		t.Fatalf("the new secret is the old one")
	}
	if _, err := f.s.ConfirmTOTPChange(f.ctx, m.session.Token, f.code(m.secret), "10.0.0.5"); !errors.Is(err, ErrCodeInvalid) {
		t.Errorf("confirming with the old app's code: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	codes, err := f.s.ConfirmTOTPChange(f.ctx, m.session.Token, f.code(e.Secret), "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(codes...)
	if len(codes) != RecoveryCodeCount {
		t.Errorf("%d recovery codes", len(codes))
	}
	if _, _, err := f.s.SessionByToken(f.ctx, m.session.Token, f.clock.Now()); err != nil {
		t.Errorf("the changing session ended: %v", err)
	}
	if _, _, err := f.s.SessionByToken(f.ctx, other.Token, f.clock.Now()); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("another session survived the TOTP change: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	old := *m
	if _, err := f.login(&old, "10.0.0.5"); !errors.Is(err, ErrCodeInvalid) {
		t.Errorf("the old app still logs in: %v", err)
	}
	f.clock.Advance(time.Second)
	p, _ := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5")
	f.secret(p.Token)
	if _, err := f.s.SecondFactor(f.ctx, p.Token, m.recovery[0], "10.0.0.5"); !errors.Is(err, ErrCodeInvalid) {
		t.Errorf("an old recovery code still works: %v", err)
	}
	f.clock.Advance(2 * time.Second)
	m.secret = e.Secret
	f.mustLogin(m, "10.0.0.5")
	if d := f.lastAudit("staff.2fa.change").Detail; !strings.Contains(d, "current code checked") || !strings.Contains(d, "1 session ended") {
		t.Errorf("audit: %q", d)
	}

	// New recovery codes need a current code too.
	in := f.mustLogin(m, "10.0.0.5")
	if _, err := f.s.NewRecoveryCodes(f.ctx, in.Token, "111111", "10.0.0.5"); !errors.Is(err, ErrCodeInvalid) {
		t.Errorf("NewRecoveryCodes with a wrong code: %v", err)
	}
	f.clock.Advance(time.Second)
	fresh, err := f.s.NewRecoveryCodes(f.ctx, in.Token, f.code(m.secret), "10.0.0.5")
	f.secret(fresh...)
	if err != nil || len(fresh) != RecoveryCodeCount {
		t.Errorf("NewRecoveryCodes = %d, %v", len(fresh), err)
	}
}

// A new secret has no used step yet: confirming it within the same 30
// seconds as the old code was used (a quick phone swap, or setting up
// again right after ResetTOTP) works.
func TestNewSecretWithinTheSameStep(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	in := f.mustLogin(m, "10.0.0.5")
	f.clock.Advance(-30 * time.Second) // back into the step of the login's code
	f.secret(f.code(m.secret))
	e, err := f.s.BeginTOTPChange(f.ctx, in.Token, m.recovery[0], "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(e.Secret)
	codes, err := f.s.ConfirmTOTPChange(f.ctx, in.Token, f.code(e.Secret), "10.0.0.5")
	if err != nil {
		t.Fatalf("confirming the new app in the same step: %v", err)
	}
	f.secret(codes...)

	if _, err := f.s.ResetTOTP(f.ctx, admin, "alice"); err != nil {
		t.Fatal(err)
	}
	p, err := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(p.Token)
	e, err = f.s.BeginEnrolment(f.ctx, p.Token)
	if err != nil {
		t.Fatal(err)
	}
	f.secret(e.Secret)
	again, err := f.s.ConfirmEnrolment(f.ctx, p.Token, f.code(e.Secret), "10.0.0.5")
	if err != nil {
		t.Fatalf("setting up again in the same step after ResetTOTP: %v", err)
	}
	f.secret(again.Token)
	f.secret(again.RecoveryCodes...)
}
