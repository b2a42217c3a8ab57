package desk

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"keycard/staff"
)

// hasAudit reports whether the audit log has an entry of action on subject.
func (f *fixture) hasAudit(action, subject string) bool {
	f.t.Helper()
	entries, err := f.vs.AuditLog(context.Background(), 0)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == action && e.Subject == subject {
			return true
		}
	}
	return false
}

func (f *fixture) account(name string) staff.Account {
	f.t.Helper()
	a, err := f.ss.Account(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// noneHolds fails the test for each page since page n, and the log, that
// holds one of secrets.
func (f *fixture) noneHolds(n int, secrets map[string]string) {
	f.t.Helper()
	logs := f.logs.String()
	for what, s := range secrets {
		if strings.Contains(logs, s) {
			f.t.Errorf("the log holds the %s", what)
		}
		for i, p := range f.pagesFrom(n) {
			if strings.Contains(p, s) {
				f.t.Errorf("page %d after it was shown holds the %s", i, what)
			}
		}
	}
}

// Every member of staff reaches their account page from the menu, with
// its three forms.
func TestAccountPage(t *testing.T) {
	f := newFixture(t, nil)
	fd := f.newMember("jane", staff.RoleFrontDesk)
	admin := f.newMember("root", staff.RoleAdmin)
	for _, m := range []*member{fd, admin} {
		if _, page := m.get("/"); !strings.Contains(page, `<a href="/account">Your account</a>`) {
			t.Errorf("%s's menu has no account link:\n%s", m.name, page)
		}
		status, page := m.get("/account")
		if status != http.StatusOK || !strings.Contains(page, `<a href="/account" aria-current="page">`) ||
			!strings.Contains(page, `id="account-name">`+m.name+`<`) || !strings.Contains(page, `id="codes-left">10<`) {
			t.Errorf("%s's account page: %d\n%s", m.name, status, page)
		}
		for _, action := range []string{"/account/password", "/account/2fa", "/account/recovery-codes"} {
			if !strings.Contains(page, `action="`+action+`"`) {
				t.Errorf("the account page has no form for %s", action)
			}
		}
	}
	// Not logged in: to the login.
	if _, page := f.browser().get("/account"); !strings.Contains(page, `action="/login"`) {
		t.Errorf("GET /account without a session:\n%s", page)
	}
	b := f.browser()
	if _, page := b.post("/account/recovery-codes", "code", f.code(fd.secret)); !strings.Contains(page, `action="/login"`) {
		t.Errorf("POST without a session:\n%s", page)
	}
}

// The password form needs the current password and a current code; a
// refusal says why and changes nothing; the change ends every other
// session and the old cookie, and the re-issued one works.
func TestAccountChangePassword(t *testing.T) {
	f := newFixture(t, nil)
	m := f.newMember("kate", staff.RoleFrontDesk)
	other, _, _ := f.login("kate", m.password, f.code(m.secret))
	f.clock.Advance(30 * time.Second)
	before := f.account("kate")
	oldToken := m.cookie(sessionCookie)
	newPass := "lighthouse keepers drink tea"
	mark := f.pageCount()

	for _, tc := range []struct {
		name       string
		form       []string
		status     int
		want       string
		countsFail bool
	}{
		{"no code", []string{"current", m.password, "code", "", "new", newPass, "repeat", newPass}, 400, "Type the code your authenticator app shows now", false},
		{"wrong code", []string{"current", m.password, "code", "000000", "new", newPass, "repeat", newPass}, 400, "Wrong code", true},
		{"wrong password", []string{"current", "not my password at all", "code", f.code(m.secret), "new", newPass, "repeat", newPass}, 400, "The current password is wrong", false},
		{"weak", []string{"current", m.password, "code", f.code(m.secret), "new", "kate-harbour-lights", "repeat", "kate-harbour-lights"}, 400, "Password contains the account name", false},
		{"common", []string{"current", m.password, "code", f.code(m.secret), "new", "password12345678", "repeat", "password12345678"}, 400, "Password is", false},
		{"differ", []string{"current", m.password, "code", f.code(m.secret), "new", newPass, "repeat", newPass + "!"}, 400, "The two new passwords differ", false},
	} {
		f.clock.Advance(time.Minute) // past the delay after a wrong try
		failed := f.account("kate").FailedCodes
		status, page := m.post("/account/password", tc.form...)
		if status != tc.status || !strings.Contains(page, "Your password is unchanged. "+tc.want) || !strings.Contains(page, `<h1>Your account</h1>`) {
			t.Errorf("%s: %d\n%s", tc.name, status, page)
		}
		a := f.account("kate")
		if !a.PasswordChangedAt.Equal(before.PasswordChangedAt) {
			t.Errorf("%s changed the password", tc.name)
		}
		if got := a.FailedCodes > failed; got != tc.countsFail {
			t.Errorf("%s: the failed-code count went from %d to %d", tc.name, failed, a.FailedCodes)
		}
		if m.cookie(sessionCookie) != oldToken {
			t.Errorf("%s re-issued the session cookie", tc.name)
		}
		if _, _, err := f.ss.SessionByToken(context.Background(), oldToken, f.clock.Now()); err != nil {
			t.Errorf("%s ended the session: %v", tc.name, err)
		}
	}
	// A cross-origin post changes nothing.
	f.clock.Advance(time.Minute)
	form := map[string][]string{"current": {m.password}, "code": {f.code(m.secret)}, "new": {newPass}, "repeat": {newPass}}
	if status, _ := m.do("POST", "/account/password", form, "Sec-Fetch-Site", "cross-site"); status != http.StatusForbidden {
		t.Errorf("cross-origin post: %d", status)
	}
	if !f.account("kate").PasswordChangedAt.Equal(before.PasswordChangedAt) {
		t.Error("a cross-origin post changed the password")
	}

	// The change.
	status, page := m.post("/account/password", "current", m.password, "code", f.code(m.secret), "new", newPass, "repeat", newPass)
	if status != http.StatusOK || !strings.Contains(page, "Your password is changed. Your other sessions were logged out.") {
		t.Fatalf("change: %d\n%s", status, page)
	}
	newToken := m.cookie(sessionCookie)
	if newToken == oldToken || !strings.HasPrefix(newToken, staff.SessionPrefix) {
		t.Fatalf("the session cookie was not re-issued (%q)", newToken)
	}
	if _, _, err := f.ss.SessionByToken(context.Background(), oldToken, f.clock.Now()); err == nil {
		t.Error("the old session lives on after the password change")
	}
	if status, page := m.get("/account"); status != http.StatusOK || !strings.Contains(page, `id="account-name">kate<`) {
		t.Errorf("the new cookie does not work: %d\n%s", status, page)
	}
	if _, page := other.get("/"); !strings.Contains(page, "Your session has ended") {
		t.Errorf("the other session lives on:\n%s", page)
	}
	if !f.hasAudit("staff.password.change", "staff:kate") {
		t.Error("the change is not audited")
	}
	// The new password logs in; the old one does not.
	f.clock.Advance(30 * time.Second)
	if _, page := f.browser().post("/login", "name", "kate", "password", m.password); !strings.Contains(page, "Wrong name or password") {
		t.Errorf("the old password still logs in:\n%s", page)
	}
	f.clock.Advance(time.Minute)
	if _, status, page := f.login("kate", newPass, f.code(m.secret)); status != http.StatusOK || !strings.Contains(page, "<h1>Stays</h1>") {
		t.Errorf("login with the new password: %d\n%s", status, page)
	}
	f.noneHolds(mark, map[string]string{"new password": newPass, "old password": m.password, "old session token": oldToken, "new session token": newToken})
}

// Moving to a new authenticator app: a current code shows a new secret
// once (QR code inline, and the key); a code from the new app confirms
// it and shows new recovery codes once; the other sessions end, this one
// goes on; the old app and old recovery codes stop working.
func TestAccountMoveTOTP(t *testing.T) {
	f := newFixture(t, nil)
	m := f.newMember("liam", staff.RoleFrontDesk)
	other, _, _ := f.login("liam", m.password, f.code(m.secret))
	f.clock.Advance(30 * time.Second)

	// Refused: no code, a wrong code; nothing is set up.
	for _, tc := range []struct{ code, want string }{{"", "Type the code your authenticator app shows now"}, {"000000", "Wrong code"}} {
		status, page := m.post("/account/2fa", "code", tc.code)
		if status != http.StatusBadRequest || !strings.Contains(page, "Your authenticator app is unchanged. "+tc.want) ||
			strings.Contains(page, `id="secret"`) || strings.Contains(page, "<svg") {
			t.Errorf("begin with %q: %d\n%s", tc.code, status, page)
		}
	}
	// A confirmation with nothing under way says so.
	f.clock.Advance(time.Minute)
	if status, page := m.post("/account/2fa/confirm", "code", f.code(m.secret)); status != http.StatusBadRequest || !strings.Contains(page, "No new authenticator is being set up") {
		t.Errorf("confirm with nothing under way: %d\n%s", status, page)
	}

	f.clock.Advance(time.Minute)
	oldCode := f.code(m.secret)
	status, page := m.post("/account/2fa", "code", oldCode)
	if status != http.StatusOK || !strings.Contains(page, `<div class="qr" role="img"`) || !strings.Contains(page, "<svg") ||
		strings.Contains(page, "/login/enrol/qr.svg") || !strings.Contains(page, `action="/account/2fa/confirm"`) {
		t.Fatalf("begin: %d\n%s", status, page)
	}
	if cc := m.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page with the new secret has Cache-Control %q", cc)
	}
	if csp := m.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(page, "<script") {
		t.Errorf("the page with the new secret: CSP %q", csp)
	}
	newSecret := enrolSecret(t, page)
	if newSecret == m.secret {
		t.Fatal("the new secret is the old one")
	}
	mark := f.pageCount()
	// The same code again is a replay.
	if status, page := m.post("/account/2fa", "code", oldCode); status != http.StatusBadRequest || !strings.Contains(page, "already used") {
		t.Errorf("a replayed code: %d\n%s", status, page)
	}
	// Until confirmed, the old app still logs in.
	f.clock.Advance(time.Minute)
	if _, status, page := f.login("liam", m.password, f.code(m.secret)); status != http.StatusOK || !strings.Contains(page, "<h1>Stays</h1>") {
		t.Errorf("the old app before the confirmation: %d\n%s", status, page)
	}

	// A code of the old app does not confirm; the form comes back without
	// the secret.
	f.clock.Advance(30 * time.Second)
	status, page = m.post("/account/2fa/confirm", "code", f.code(m.secret))
	if status != http.StatusBadRequest || !strings.Contains(page, "Wrong code") || !strings.Contains(page, `action="/account/2fa/confirm"`) ||
		strings.Contains(page, `id="secret"`) {
		t.Errorf("confirm with the old app's code: %d\n%s", status, page)
	}
	if status, page := m.post("/account/2fa/confirm", "code", ""); status != http.StatusBadRequest || !strings.Contains(page, "Type the code") {
		t.Errorf("confirm with no code: %d\n%s", status, page)
	}
	f.clock.Advance(time.Minute)
	status, page = m.post("/account/2fa/confirm", "code", f.code(newSecret))
	if status != http.StatusOK || !strings.Contains(page, "Your new authenticator app is set up") || !strings.Contains(page, `href="/account"`) {
		t.Fatalf("confirm: %d\n%s", status, page)
	}
	if cc := m.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page with the new recovery codes has Cache-Control %q", cc)
	}
	codes := recoveryCodes(t, page)
	codesPage := f.pageCount()
	// This session goes on; the other ends.
	if status, page := m.get("/account"); status != http.StatusOK || !strings.Contains(page, `id="codes-left">10<`) {
		t.Errorf("this session after the change: %d\n%s", status, page)
	}
	if _, page := other.get("/"); !strings.Contains(page, "Your session has ended") {
		t.Errorf("the other session lives on:\n%s", page)
	}
	if !f.hasAudit("staff.2fa.change", "staff:liam") {
		t.Error("the change is not audited")
	}
	// The old app and the old recovery codes no longer log in; the new
	// app and the new codes do.
	f.clock.Advance(30 * time.Second)
	if _, status, page := f.login("liam", m.password, f.code(m.secret)); status != http.StatusUnauthorized || !strings.Contains(page, "Wrong code") {
		t.Errorf("the old app after the change: %d\n%s", status, page)
	}
	f.clock.Advance(time.Minute)
	if _, status, page := f.login("liam", m.password, m.recovery[0]); status != http.StatusUnauthorized || !strings.Contains(page, "Wrong code") {
		t.Errorf("an old recovery code after the change: %d\n%s", status, page)
	}
	f.clock.Advance(time.Minute)
	if _, status, page := f.login("liam", m.password, f.code(newSecret)); status != http.StatusOK || !strings.Contains(page, "<h1>Stays</h1>") {
		t.Errorf("the new app: %d\n%s", status, page)
	}
	f.clock.Advance(time.Minute)
	if _, status, page := f.login("liam", m.password, codes[0]); status != http.StatusOK || !strings.Contains(page, "Recovery code used") {
		t.Errorf("a new recovery code: %d\n%s", status, page)
	}
	// The secret was on one page only, and the codes too.
	for _, p := range []string{"/", "/account", "/stays/new"} {
		m.get(p)
	}
	f.noneHolds(mark, map[string]string{"new TOTP secret": newSecret, "spaced new TOTP secret": spaced(newSecret)})
	secrets := map[string]string{"old TOTP secret": m.secret}
	for i, c := range codes {
		secrets["new recovery code "+itoa(int64(i))] = c
	}
	f.noneHolds(codesPage, secrets)
}

// New recovery codes need a current TOTP code (not a recovery code), are
// shown once, and replace the old ones.
func TestAccountRecoveryCodes(t *testing.T) {
	f := newFixture(t, nil)
	m := f.newMember("mona", staff.RoleAdmin)
	for _, tc := range []struct{ code, want string }{
		{"", "Type the code your authenticator app shows now"},
		{"000000", "Wrong code"},
		{m.recovery[0], "Wrong code"}, // a recovery code does not make new ones
	} {
		f.clock.Advance(time.Minute)
		status, page := m.post("/account/recovery-codes", "code", tc.code)
		if status != http.StatusBadRequest || !strings.Contains(page, "Your recovery codes are unchanged. "+tc.want) || strings.Contains(page, `id="recovery-codes"`) {
			t.Errorf("new codes with %q: %d\n%s", tc.code, status, page)
		}
	}
	if a := f.account("mona"); a.RecoveryCodesLeft != staff.RecoveryCodeCount {
		t.Errorf("%d recovery codes left after the refusals", a.RecoveryCodesLeft)
	}
	f.clock.Advance(time.Minute)
	code := f.code(m.secret)
	status, page := m.post("/account/recovery-codes", "code", code)
	if status != http.StatusOK || !strings.Contains(page, "You have new recovery codes; the old ones no longer work.") {
		t.Fatalf("new codes: %d\n%s", status, page)
	}
	if cc := m.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page with the new recovery codes has Cache-Control %q", cc)
	}
	codes := recoveryCodes(t, page)
	mark := f.pageCount()
	for _, c := range codes {
		for _, old := range m.recovery {
			if c == old {
				t.Errorf("new code %s is an old one", c)
			}
		}
	}
	// The same TOTP code again is a replay, and makes none.
	if status, page := m.post("/account/recovery-codes", "code", code); status != http.StatusBadRequest || !strings.Contains(page, "already used") {
		t.Errorf("a replayed code: %d\n%s", status, page)
	}
	if !f.hasAudit("staff.recovery.renew", "staff:mona") {
		t.Error("the renewal is not audited")
	}
	// The old codes no longer log in; a new one does.
	f.clock.Advance(time.Minute)
	if _, status, page := f.login("mona", m.password, m.recovery[1]); status != http.StatusUnauthorized || !strings.Contains(page, "Wrong code") {
		t.Errorf("an old recovery code: %d\n%s", status, page)
	}
	f.clock.Advance(time.Minute)
	if _, status, page := f.login("mona", m.password, codes[3]); status != http.StatusOK || !strings.Contains(page, "Recovery code used") {
		t.Errorf("a new recovery code: %d\n%s", status, page)
	}
	for _, p := range []string{"/", "/account", "/staff", "/audit"} {
		m.get(p)
	}
	secrets := map[string]string{"TOTP secret": m.secret}
	for i, c := range codes {
		secrets["new recovery code "+itoa(int64(i))] = c
	}
	f.noneHolds(mark, secrets)
}

// Wrong codes on the account page count towards the lock as at login,
// and the page says what to do.
func TestAccountWrongCodesLock(t *testing.T) {
	f := newFixture(t, nil)
	m := f.newMember("nina", staff.RoleFrontDesk)
	// Straight after a wrong code, the growing delay: 429 and when to
	// try again, nothing checked.
	m.post("/account/recovery-codes", "code", "000000")
	status, page := m.post("/account/2fa", "code", f.code(m.secret))
	if status != http.StatusTooManyRequests || m.header.Get("Retry-After") == "" || !strings.Contains(page, "try again in") || strings.Contains(page, `id="secret"`) {
		t.Errorf("straight after a wrong code: %d %q\n%s", status, m.header.Get("Retry-After"), page)
	}
	for i := 1; i < staff.DefaultMaxFailedCodes; i++ {
		f.clock.Advance(time.Minute)
		status, page = m.post("/account/recovery-codes", "code", "000000")
	}
	if status != http.StatusForbidden || !strings.Contains(page, "is locked") || !strings.Contains(page, "keycard staff reset-password nina") {
		t.Errorf("after %d wrong codes: %d\n%s", staff.DefaultMaxFailedCodes, status, page)
	}
	if a := f.account("nina"); !a.Locked(f.clock.Now()) {
		t.Error("the account is not locked")
	}
}
