package staff

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A new account's first login sets up TOTP from a QR code, and gets its
// recovery codes once; later logins need the code.
func TestFirstLoginEnrolsTOTP(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Issuer = "Grand Hotel" })
	_, password := f.add("alice", RoleFrontDesk)
	p, err := f.s.Login(f.ctx, "Alice ", password, "10.0.0.5") // names are not case-sensitive
	if err != nil {
		t.Fatal(err)
	}
	f.secret(p.Token)
	if !p.Enrol || !p.Account.MustChangePassword || p.Account.TOTPEnrolled {
		t.Fatalf("first login: %+v, want Enrol and MustChangePassword", p)
	}
	if _, _, err := f.s.SessionByToken(f.ctx, p.Token, f.clock.Now()); !errors.Is(err, ErrSessionInvalid) {
		t.Fatalf("a login past its password only is a session: %v", err)
	}
	_, err = f.s.SecondFactor(f.ctx, p.Token, "123456", "10.0.0.5")
	wantErr(t, err, ErrEnrolmentRequired)
	if _, _, err := f.s.CreateSession(f.ctx, p.Account.ID, "10.0.0.5"); !errors.Is(err, ErrEnrolmentRequired) {
		t.Fatalf("CreateSession for an account without TOTP: %v", err)
	}

	e, err := f.s.BeginEnrolment(f.ctx, p.Token)
	if err != nil {
		t.Fatal(err)
	}
	f.secret(e.Secret)
	u, err := url.Parse(e.URL)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != e.Secret ||
		u.Query().Get("issuer") != "Grand Hotel" || !strings.HasSuffix(u.Path, "Grand Hotel:alice") {
		t.Fatalf("enrolment URL %q (%v)", e.URL, err)
	}
	if len(e.Secret) != 32 { // 160 bits in base32
		t.Errorf("TOTP secret %d characters, want 32 (160 bits)", len(e.Secret))
	}
	again, err := f.s.BeginEnrolment(f.ctx, p.Token)
	if err != nil || again.Secret != e.Secret {
		t.Errorf("reloading the QR page changed the secret (%v)", err)
	}
	var pendingSealed string
	f.db.QueryRow(`SELECT totp_pending_sealed FROM staff WHERE name = 'alice'`).Scan(&pendingSealed)
	if pendingSealed == "" || strings.Contains(pendingSealed, e.Secret) {
		t.Errorf("pending TOTP secret stored as %q, want it sealed", pendingSealed)
	}

	_, err = f.s.ConfirmEnrolment(f.ctx, p.Token, "000000", "10.0.0.5")
	wantErr(t, err, ErrCodeInvalid)
	f.clock.Advance(time.Second) // the delay after a wrong code
	in, err := f.s.ConfirmEnrolment(f.ctx, p.Token, f.code(e.Secret), "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(in.Token)
	f.secret(in.RecoveryCodes...)
	if len(in.RecoveryCodes) != RecoveryCodeCount || !in.Account.TOTPEnrolled || in.Account.RecoveryCodesLeft != RecoveryCodeCount {
		t.Fatalf("after set-up: %d recovery codes, account %+v", len(in.RecoveryCodes), in.Account)
	}
	seen := map[string]bool{}
	for _, c := range in.RecoveryCodes {
		if len(c) != 19 || strings.Count(c, "-") != 3 || seen[c] {
			t.Errorf("recovery code %q: want 4 groups of 4, all different", c)
		}
		seen[c] = true
	}
	if _, a, err := f.s.SessionByToken(f.ctx, in.Token, f.clock.Now()); err != nil || a.Name != "alice" {
		t.Fatalf("the new session: %v", err)
	}
	var sealed string
	f.db.QueryRow(`SELECT totp_sealed FROM staff WHERE name = 'alice'`).Scan(&sealed)
	if !strings.HasPrefix(sealed, "v1:") || strings.Contains(sealed, e.Secret) {
		t.Errorf("TOTP secret stored as %q, want it sealed", sealed)
	}
	if _, err := f.s.ConfirmEnrolment(f.ctx, p.Token, f.code(e.Secret), "10.0.0.5"); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("the pending login was used twice: %v", err)
	}
	for _, want := range []string{"staff.add", "staff.auth.fail", "staff.2fa.enrol", "staff.login"} {
		if !strings.Contains(strings.Join(f.actions(), " "), want) {
			t.Errorf("audit %v lacks %s", f.actions(), want)
		}
	}

	// From now on the password alone is not enough.
	f.clock.Advance(30 * time.Second)
	p, err = f.s.Login(f.ctx, "alice", password, "10.0.0.5")
	if err != nil || p.Enrol {
		t.Fatalf("second login: %+v %v", p, err)
	}
	f.secret(p.Token)
	if _, err := f.s.BeginEnrolment(f.ctx, p.Token); !errors.Is(err, ErrAlreadyEnrolled) {
		t.Errorf("BeginEnrolment on an enrolled account: %v", err)
	}
	if _, err := f.s.SecondFactor(f.ctx, p.Token, f.code(e.Secret), "10.0.0.5"); err != nil {
		t.Fatal(err)
	}
}

// Wrong passwords slow down (1s, 2s, 4s, 8s: an attempt within the delay
// is not even checked) and the 5th locks the account, whatever the
// addresses; the lock says what to do, lasts 15 minutes, and twice as long
// the next time.
func TestWrongPasswordsDelayThenLock(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	for i, wantDelay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		client := fmt.Sprintf("10.0.1.%d", i) // one guess from each address
		_, err := f.s.Login(f.ctx, "alice", "wrong password "+client, client)
		wantErr(t, err, ErrLoginFailed)
		// At once, even the right password is refused unchecked.
		_, err = f.s.Login(f.ctx, "alice", m.password, "10.0.0.5")
		var retry *RetryError
		if !errors.As(err, &retry) || retry.After != wantDelay || retry.Address {
			t.Fatalf("after %d wrong passwords: %v, want to wait %v", i+1, err, wantDelay)
		}
		if a, _ := f.s.Account(f.ctx, "alice"); a.FailedPasswords != i+1 {
			t.Errorf("after %d wrong passwords the count is %d (a refused attempt counted?)", i+1, a.FailedPasswords)
		}
		f.clock.Advance(wantDelay - time.Millisecond)
		if _, err := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5"); !errors.Is(err, ErrTryLater) {
			t.Fatalf("just before the delay ends: %v", err)
		}
		f.clock.Advance(time.Millisecond)
	}
	_, err := f.s.Login(f.ctx, "alice", "the fifth wrong one", "10.0.1.9")
	var locked *LockedError
	if !errors.As(err, &locked) || !errors.Is(err, ErrLocked) {
		t.Fatalf("5th wrong password: %v, want the account locked", err)
	}
	until := f.clock.Now().Add(15 * time.Minute)
	if !locked.Until.Equal(until) {
		t.Errorf("locked until %v, want %v", locked.Until, until)
	}
	want := "staff: account alice is locked after too many wrong passwords: ask an admin to run `keycard staff reset-password alice`, or wait until " +
		until.Format("15:04")
	if err.Error() != want {
		t.Errorf("lock message:\n got %q\nwant %q", err, want)
	}
	if !strings.Contains(f.lastAudit("staff.lockout").Detail, "5 wrong passwords in a row, the last from 10.0.1.9") {
		t.Errorf("lockout audit: %q", f.lastAudit("staff.lockout").Detail)
	}
	// The right password while locked is refused, from any address.
	f.clock.Advance(10 * time.Minute)
	_, err = f.s.Login(f.ctx, "alice", m.password, "192.168.7.7")
	wantErr(t, err, ErrLocked)
	f.clock.Advance(5 * time.Minute)
	f.mustLogin(m, "10.0.0.5")

	// A second lock before... a login resets the count of lockouts, so lock
	// twice in a row without one: 15 minutes, then 30.
	for lock, want := range []time.Duration{15 * time.Minute, 30 * time.Minute} {
		var err error
		for range DefaultMaxFailedPasswords {
			_, err = f.s.Login(f.ctx, "alice", "still wrong", "10.0.2.1")
			f.clock.Advance(time.Minute) // past every delay
		}
		if !errors.As(err, &locked) || locked.Until.Sub(f.clock.Now().Add(-time.Minute)) != want {
			t.Fatalf("lock %d: %v, want %v", lock+1, err, want)
		}
		f.clock.Advance(want)
	}
	if a, _ := f.s.Account(f.ctx, "alice"); a.Lockouts != 2 {
		t.Errorf("lockouts = %d, want 2", a.Lockouts)
	}

	// An admin's password reset lifts the lock at once.
	for range DefaultMaxFailedPasswords {
		_, err = f.s.Login(f.ctx, "alice", "wrong again", "10.0.2.1")
		f.clock.Advance(time.Minute)
	}
	wantErr(t, err, ErrLocked)
	pw, err := f.s.ResetPassword(f.ctx, admin, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(pw)
	m.password = pw
	f.mustLogin(m, "10.0.0.5")
	if !strings.Contains(f.lastAudit("staff.password.reset").Detail, "lock lifted") {
		t.Errorf("reset audit: %q", f.lastAudit("staff.password.reset").Detail)
	}
}

// A lock on another day names the date.
func TestLockMessageNamesTheDay(t *testing.T) {
	e := &LockedError{Name: "bob", Reason: "wrong codes", Until: t0.Add(20 * time.Hour), now: t0, loc: time.UTC}
	if !strings.HasSuffix(e.Error(), "wait until 2026-06-02 08:00") {
		t.Errorf("message %q", e)
	}
}

// Five wrong TOTP codes after the right password lock the account; the
// login in progress ends.
func TestWrongCodesLock(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	p, err := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	f.secret(p.Token)
	for i := range DefaultMaxFailedCodes {
		_, err = f.s.SecondFactor(f.ctx, p.Token, fmt.Sprintf("%06d", i), "10.0.0.5")
		if i < DefaultMaxFailedCodes-1 {
			wantErr(t, err, ErrCodeInvalid)
			_, err2 := f.s.SecondFactor(f.ctx, p.Token, f.code(m.secret), "10.0.0.5")
			wantErr(t, err2, ErrTryLater) // the right code within the delay is not checked
			f.clock.Advance(time.Duration(1<<i) * time.Second)
		}
	}
	var locked *LockedError
	if !errors.As(err, &locked) || locked.Reason != "wrong codes" || !strings.Contains(err.Error(), "reset-password alice") {
		t.Fatalf("5th wrong code: %v", err)
	}
	if _, err := f.s.SecondFactor(f.ctx, p.Token, f.code(m.secret), "10.0.0.5"); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("the login in progress survived the lock: %v", err)
	}
	if _, err := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5"); !errors.Is(err, ErrLocked) {
		t.Errorf("login while locked: %v", err)
	}
	if d := f.lastAudit("staff.auth.fail").Detail; d != "login: account locked (until 2026-06-01T12:15:45Z)" {
		t.Errorf("audit of a refused attempt: %q", d)
	}
}

// A TOTP code is good once: the same code, or an older one, is refused
// as a replay even within its 90 seconds.
func TestTOTPReplayRefused(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	code := f.code(m.secret)
	previous := func() string {
		f.clock.Advance(-30 * time.Second)
		defer f.clock.Advance(30 * time.Second)
		return f.code(m.secret)
	}()
	p1, _ := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5")
	f.secret(p1.Token)
	if _, err := f.s.SecondFactor(f.ctx, p1.Token, code, "10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * time.Second)
	p2, _ := f.s.Login(f.ctx, "alice", m.password, "10.0.0.6")
	f.secret(p2.Token)
	_, err := f.s.SecondFactor(f.ctx, p2.Token, code, "10.0.0.6")
	wantErr(t, err, ErrCodeReplayed)
	f.clock.Advance(time.Second)
	_, err = f.s.SecondFactor(f.ctx, p2.Token, previous, "10.0.0.6")
	wantErr(t, err, ErrCodeReplayed)
	if !strings.Contains(f.lastAudit("staff.auth.fail").Detail, "replayed code") {
		t.Errorf("audit: %q", f.lastAudit("staff.auth.fail").Detail)
	}
	f.clock.Advance(30 * time.Second)
	if _, err := f.s.SecondFactor(f.ctx, p2.Token, f.code(m.secret), "10.0.0.6"); err != nil {
		t.Fatalf("the next step's code: %v", err)
	}
}

// One step of clock drift either way is accepted, two are not.
func TestTOTPSkew(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	secret := m.secret
	for _, tc := range []struct {
		drift time.Duration
		ok    bool
	}{{-60 * time.Second, false}, {-30 * time.Second, true}, {30 * time.Second, true}, {60 * time.Second, false}} {
		f.clock.Advance(5 * time.Minute) // a fresh step, past any delay
		f.clock.Advance(tc.drift)
		code := f.code(secret)
		f.clock.Advance(-tc.drift)
		p, err := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5")
		if err != nil {
			t.Fatal(err)
		}
		f.secret(p.Token)
		_, err = f.s.SecondFactor(f.ctx, p.Token, code, "10.0.0.5")
		if (err == nil) != tc.ok {
			t.Errorf("phone clock %v off: %v, want accepted %v", tc.drift, err, tc.ok)
		}
		f.clock.Advance(tc.drift + 30*time.Second)
	}
}

// A recovery code stands in for the TOTP code once.
func TestRecoveryCodeSingleUse(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	code := m.recovery[3]
	for i, typed := range []string{strings.ToUpper(strings.ReplaceAll(code, "-", " ")), code} {
		p, err := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5")
		if err != nil {
			t.Fatal(err)
		}
		f.secret(p.Token)
		in, err := f.s.SecondFactor(f.ctx, p.Token, typed, "10.0.0.5")
		if i == 0 {
			if err != nil || !in.UsedRecoveryCode || in.Account.RecoveryCodesLeft != RecoveryCodeCount-1 {
				t.Fatalf("first use: %+v %v", in, err)
			}
			if d := f.lastAudit("staff.login").Detail; !strings.HasPrefix(d, "password and a recovery code (9 left)") {
				t.Errorf("audit: %q", d)
			}
			continue
		}
		wantErr(t, err, ErrCodeInvalid)
	}
	f.clock.Advance(time.Second)
	p, _ := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5")
	f.secret(p.Token)
	if _, err := f.s.SecondFactor(f.ctx, p.Token, m.recovery[4], "10.0.0.5"); err != nil {
		t.Errorf("another recovery code: %v", err)
	}
	var stored string
	f.db.QueryRow(`SELECT group_concat(code_hash) FROM staff_recovery_codes`).Scan(&stored)
	for _, c := range m.recovery {
		if strings.Contains(stored, strings.ReplaceAll(c, "-", "")) {
			t.Errorf("recovery code %s stored in clear", c)
		}
	}
}

// An unknown name gets the same answer as a wrong password, costs the same
// hash, and is not written down (it may be a password typed in the wrong
// box).
func TestUnknownNameLooksLikeWrongPassword(t *testing.T) {
	f := newFixture(t)
	f.enrolled("alice", RoleFrontDesk)
	_, errUnknown := f.s.Login(f.ctx, "hunter2-my-secret", "whatever it is", "10.0.0.9")
	f.secret("hunter2-my-secret")
	_, errWrong := f.s.Login(f.ctx, "alice", "whatever it is", "10.0.0.9")
	if errUnknown == nil || errWrong == nil || errUnknown.Error() != errWrong.Error() {
		t.Errorf("unknown name: %v; wrong password: %v; want the same", errUnknown, errWrong)
	}
	e := f.lastAudit("staff.auth.fail")
	entries, _ := f.audit.AuditLog(f.ctx, 2)
	if entries[1].Subject != "staff:?" || entries[1].Actor != "unknown" || entries[1].Source != "10.0.0.9" {
		t.Errorf("unknown-name audit = %+v", entries[1])
	}
	if e.Subject != "staff:alice" || !strings.Contains(e.Detail, "wrong password (1 of 5 before a lock)") {
		t.Errorf("wrong-password audit = %+v", e)
	}
}

// A guessing address is blocked after 20 failures whatever accounts it
// tries (here one guess at each of many names, under every account's
// limit); the block does not touch the accounts, and their holders log in
// from elsewhere. The account's own limit still locks it after 5 wrong
// passwords from any mix of addresses (TestWrongPasswordsDelayThenLock).
func TestAddressBlockSparesTheAccount(t *testing.T) {
	f := newFixture(t)
	alice := f.enrolled("alice", RoleFrontDesk)
	var names []string
	for i := range 8 {
		names = append(names, fmt.Sprintf("staff%d", i))
		f.add(names[i], RoleFrontDesk)
	}
	const attacker = "203.0.113.7"
	var err error
	for i := range DefaultAddressMaxFailures {
		target := "nobody"
		if i%2 == 0 {
			target = names[i/2%len(names)] // at most 2 guesses per account
		}
		_, err = f.s.Login(f.ctx, target, fmt.Sprintf("guess number %d", i), attacker)
		if i < DefaultAddressMaxFailures-1 && errors.Is(err, ErrTryLater) {
			t.Fatalf("blocked after only %d failures: %v", i+1, err)
		}
		f.clock.Advance(3 * time.Second)
	}
	_, err = f.s.Login(f.ctx, "alice", alice.password, attacker)
	var retry *RetryError
	if !errors.As(err, &retry) || !retry.Address || retry.After > 15*time.Minute || retry.After < 14*time.Minute {
		t.Fatalf("21st attempt from the guessing address: %v, want it blocked for about 15 minutes", err)
	}
	if !strings.Contains(err.Error(), "from this address") {
		t.Errorf("message %q", err)
	}
	// Its neighbours in IPv4 are other addresses.
	f.mustLogin(alice, "203.0.113.8")
	for _, n := range names {
		if a, _ := f.s.Account(f.ctx, n); a.Locked(f.clock.Now()) || a.FailedPasswords > 2 {
			t.Errorf("%s: %+v, the address's guesses locked it", n, a)
		}
	}
	// The blocked address's attempts count against no account.
	for range 10 {
		f.s.Login(f.ctx, "alice", "blocked guess", attacker)
	}
	if a, _ := f.s.Account(f.ctx, "alice"); a.FailedPasswords != 0 {
		t.Errorf("blocked attempts counted against alice: %d", a.FailedPasswords)
	}
	if e := f.lastAudit("staff.address.block"); e.Subject != "address:203.0.113.7/32" || !strings.Contains(e.Detail, "block 1") {
		t.Errorf("block audit = %+v", e)
	}
	// The block ends; the next one lasts twice as long.
	f.clock.Advance(15 * time.Minute)
	for range DefaultAddressMaxFailures {
		f.s.Login(f.ctx, "nobody", "guess", attacker)
	}
	_, err = f.s.Login(f.ctx, "alice", alice.password, attacker)
	if !errors.As(err, &retry) || !retry.Address || retry.After != 30*time.Minute {
		t.Fatalf("second block: %v, want 30 minutes", err)
	}
}

// An IPv6 client is counted by its /64; a port is ignored.
func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.2.3":                  "10.1.2.3/32",
		"10.1.2.3:51234":            "10.1.2.3/32",
		"::ffff:10.1.2.3":           "10.1.2.3/32",
		"2001:db8:1:2:aaaa::1":      "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::9]:80": "2001:db8:1:2::/64",
		"fe80::1%eth0":              "fe80::/64",
		"not an address":            "not an address",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// The limiter's memory is bounded.
func TestAddressLimiterBounded(t *testing.T) {
	l := newAddressLimiter(addressLimits{maxFailures: 3, window: time.Minute, block: time.Minute, maxBlock: time.Hour})
	now := t0
	for i := range maxTrackedAddresses + 500 {
		l.fail(fmt.Sprintf("10.%d.%d.%d/32", i>>16&255, i>>8&255, i&255), now)
	}
	if len(l.by) > maxTrackedAddresses {
		t.Errorf("%d addresses tracked, want at most %d", len(l.by), maxTrackedAddresses)
	}
}

// Role checks: the front desk runs stays; the admin also runs Keycard.
func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		p                 Permission
		frontDesk, admin_ bool
	}{
		{PermStays, true, true}, {PermDevices, true, true}, {PermSessions, true, true}, {PermVouchers, true, true},
		{PermNAS, false, true}, {PermStaff, false, true}, {PermTokens, false, true}, {PermPolicies, false, true}, {PermAudit, false, true},
		{Permission("launch_missiles"), false, false},
	} {
		if got := Allowed(RoleFrontDesk, tc.p); got != tc.frontDesk {
			t.Errorf("Allowed(front_desk, %s) = %v", tc.p, got)
		}
		if got := Allowed(RoleAdmin, tc.p); got != tc.admin_ {
			t.Errorf("Allowed(admin, %s) = %v", tc.p, got)
		}
		if Allowed(Role("owner"), tc.p) {
			t.Errorf("an unknown role is allowed %s", tc.p)
		}
	}
	if a := (Account{Role: RoleAdmin, DisabledAt: &t0}); a.Can(PermStays) {
		t.Errorf("a disabled account can act")
	}
	if _, err := ParseRole("front-desk"); err != nil {
		t.Error(err)
	}
	if _, err := ParseRole("root"); err == nil || !strings.Contains(err.Error(), "front_desk or admin") {
		t.Errorf("ParseRole(root) = %v", err)
	}
}

// Admins' changes to accounts are audited with who did it.
func TestAdminChangesAudited(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	by := admin
	by.Source = "10.0.0.1"
	if _, err := f.s.SetRole(f.ctx, by, "alice", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, a, err := f.s.SessionByToken(f.ctx, m.session.Token, f.clock.Now()); err != nil || a.Role != RoleAdmin {
		t.Errorf("a role change did not reach the open session: %v %v", a.Role, err)
	}
	if _, err := f.s.ResetTOTP(f.ctx, by, "alice"); err != nil {
		t.Fatal(err)
	}
	e := f.lastAudit("staff.2fa.reset")
	if e.Actor != "admin:root" || e.Source != "10.0.0.1" || e.Subject != "staff:alice" ||
		!strings.Contains(e.Detail, "10 recovery code(s) removed") || !strings.Contains(e.Detail, "1 session ended") {
		t.Errorf("2fa reset audit = %+v", e)
	}
	if _, _, err := f.s.SessionByToken(f.ctx, m.session.Token, f.clock.Now()); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("ResetTOTP left the session: %v", err)
	}
	p, err := f.s.Login(f.ctx, "alice", m.password, "10.0.0.5")
	if err != nil || !p.Enrol {
		t.Errorf("after ResetTOTP the next login sets TOTP up again: %+v %v", p, err)
	}
	f.secret(p.Token)
	_, _, err = f.s.Add(f.ctx, admin, NewAccount{Name: "ALICE", Role: RoleFrontDesk})
	wantErr(t, err, ErrDuplicateAccount)
	for _, bad := range []string{"a", "1alice", "alice smith", "alice@hotel", strings.Repeat("a", 33)} {
		if _, _, err := f.s.Add(f.ctx, admin, NewAccount{Name: bad, Role: RoleFrontDesk}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Add(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, _, err := f.s.Add(f.ctx, admin, NewAccount{Name: "carol", Role: "owner"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Add with role owner = %v", err)
	}
}
