package desk

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"keycard/portal/httpsec"
	"keycard/staff"
)

// The cookies. The __Host- prefix makes the browser refuse them unless
// Secure, for this host only (no Domain) and Path=/.
const (
	sessionCookie = "__Host-keycard-desk"
	pendingCookie = "__Host-keycard-login" // a login past its password
)

func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

func cookie(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// seeOther redirects after a post (or to the login).
func seeOther(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

type ctxKey struct{}

// login is the signed-in member of staff of a request.
type login struct {
	account staff.Account
	token   string
}

func current(r *http.Request) login {
	l, _ := r.Context().Value(ctxKey{}).(login)
	return l
}

// authed runs next for a live session whose role allows perm ("" for any
// role). No session: to the login page. A password that must change:
// to /password first. A role without perm: 403.
func (d *Desk) authed(perm staff.Permission, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := cookie(r, sessionCookie)
		if token == "" {
			seeOther(w, r, "/login")
			return
		}
		_, acct, err := d.staff.SessionByToken(r.Context(), token, d.now())
		if err != nil {
			if !errors.Is(err, staff.ErrSessionInvalid) {
				d.fail(w, r, nil, "look up session", err)
				return
			}
			clearCookie(w, sessionCookie)
			seeOther(w, r, "/login?ended=1")
			return
		}
		if acct.MustChangePassword && r.URL.Path != "/password" {
			seeOther(w, r, "/password")
			return
		}
		if perm != "" && !acct.Can(perm) {
			d.log.Warn("page refused", "staff", acct.Name, "role", acct.Role, "path", r.URL.Path, "needs", perm, "from", httpsec.Source(r))
			d.message(w, r, http.StatusForbidden, &acct, "Not allowed", "This page is for admins. Ask an admin if you need it.")
			return
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, login{account: acct, token: token})
		next(w, r.WithContext(ctx))
	})
}

type loginView struct {
	Name   string
	Ended  bool
	Locked bool
}

func (d *Desk) loginPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, http.StatusOK, "login", &view{Title: "Log in", D: loginView{Ended: r.URL.Query().Get("ended") != ""}})
}

func (d *Desk) loginPost(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	client := httpsec.Source(r)
	p, err := d.staff.Login(r.Context(), name, r.PostFormValue("password"), client)
	if err != nil {
		status, lv := http.StatusUnauthorized, loginView{Name: name}
		var locked *staff.LockedError
		var retry *staff.RetryError
		switch {
		case errors.As(err, &locked):
			lv.Locked = true
			status = http.StatusForbidden
		case errors.As(err, &retry):
			status = http.StatusTooManyRequests
			w.Header().Set("Retry-After", itoa(int64(retry.After/time.Second)))
		case errors.Is(err, staff.ErrLoginFailed), errors.Is(err, staff.ErrDisabled), errors.Is(err, staff.ErrInvalid):
		default:
			d.fail(w, r, nil, "login", err)
			return
		}
		d.log.Info("login refused", "step", "password", "reason", reason(err), "from", client)
		d.render(w, r, status, "login", &view{Title: "Log in", Error: userMessage(err), D: lv})
		return
	}
	setCookie(w, pendingCookie, p.Token, p.ExpiresAt.Sub(d.now())+time.Minute)
	if p.Enrol {
		seeOther(w, r, "/login/enrol")
		return
	}
	seeOther(w, r, "/login/code")
}

// reason is a refused login's cause for the log, never the input.
func reason(err error) string {
	for _, e := range []struct {
		err error
		say string
	}{
		{staff.ErrLocked, "locked"}, {staff.ErrTryLater, "slowed"}, {staff.ErrLoginFailed, "wrong name or password"},
		{staff.ErrDisabled, "disabled"}, {staff.ErrCodeReplayed, "code replayed"}, {staff.ErrCodeInvalid, "wrong code"},
		{staff.ErrSessionInvalid, "login expired"}, {staff.ErrWeakPassword, "weak password"}, {staff.ErrWrongPassword, "wrong current password"},
		{staff.ErrInvalid, "invalid input"},
	} {
		if errors.Is(err, e.err) {
			return e.say
		}
	}
	return "error"
}

func (d *Desk) codePage(w http.ResponseWriter, r *http.Request) {
	if cookie(r, pendingCookie) == "" {
		seeOther(w, r, "/login")
		return
	}
	d.render(w, r, http.StatusOK, "code", &view{Title: "Log in: code"})
}

func (d *Desk) codePost(w http.ResponseWriter, r *http.Request) {
	pending := cookie(r, pendingCookie)
	if pending == "" {
		seeOther(w, r, "/login")
		return
	}
	li, err := d.staff.SecondFactor(r.Context(), pending, strings.TrimSpace(r.PostFormValue("code")), httpsec.Source(r))
	if err != nil {
		d.secondStepFailed(w, r, "code", err)
		return
	}
	d.loggedIn(w, r, li)
}

// secondStepFailed shows the code (or set-up) page again with why, or
// sends the user back to the password when the login ended.
func (d *Desk) secondStepFailed(w http.ResponseWriter, r *http.Request, page string, err error) {
	switch {
	case errors.Is(err, staff.ErrSessionInvalid), errors.Is(err, staff.ErrLocked), errors.Is(err, staff.ErrDisabled):
		clearCookie(w, pendingCookie)
		status := http.StatusUnauthorized
		lv := loginView{}
		if errors.Is(err, staff.ErrLocked) {
			status, lv.Locked = http.StatusForbidden, true
		}
		d.log.Info("login refused", "step", page, "reason", reason(err), "from", httpsec.Source(r))
		d.render(w, r, status, "login", &view{Title: "Log in", Error: userMessage(err), D: lv})
		return
	case errors.Is(err, staff.ErrCodeInvalid), errors.Is(err, staff.ErrCodeReplayed), errors.Is(err, staff.ErrTryLater), errors.Is(err, staff.ErrInvalid):
	default:
		d.fail(w, r, nil, "login "+page, err)
		return
	}
	d.log.Info("login refused", "step", page, "reason", reason(err), "from", httpsec.Source(r))
	if page == "enrol" {
		d.showEnrol(w, r, http.StatusUnauthorized, userMessage(err))
		return
	}
	d.render(w, r, http.StatusUnauthorized, "code", &view{Title: "Log in: code", Error: userMessage(err)})
}

// loggedIn starts the session cookie and shows what comes next: the
// recovery codes (once), a warning about a used recovery code, or the
// stays.
func (d *Desk) loggedIn(w http.ResponseWriter, r *http.Request, li staff.LoggedIn) {
	clearCookie(w, pendingCookie)
	setCookie(w, sessionCookie, li.Token, 0)
	d.log.Info("staff logged in", "staff", li.Account.Name, "role", li.Account.Role, "from", httpsec.Source(r))
	next := "/"
	if li.Account.MustChangePassword {
		next = "/password"
	}
	if len(li.RecoveryCodes) > 0 {
		d.render(w, r, http.StatusOK, "recovery", &view{Title: "Recovery codes", Me: &li.Account,
			D: recoveryView{Codes: li.RecoveryCodes, Next: next}})
		return
	}
	if li.UsedRecoveryCode {
		d.render(w, r, http.StatusOK, "message", &view{Title: "Recovery code used", Me: &li.Account,
			D: messageView{Text: "You logged in with a recovery code. " + itoa(int64(li.Account.RecoveryCodesLeft)) +
				" are left; ask an admin to reset your authenticator app if your phone is lost.", Next: next}})
		return
	}
	seeOther(w, r, next)
}

type recoveryView struct {
	Intro string // what happened; "" after the first set-up
	Codes []string
	Next  string
}

type enrolView struct {
	Account, Issuer, Secret string
	Expires                 string
	// Action is where the code from the app is posted.
	Action string
	// Change: a new app for an account that has one (from the account
	// page), the QR code inline in QR, since the secret is not kept where
	// a second request could fetch it. Secret "" there: the code form
	// again after a wrong code, the secret not shown again.
	Change bool
	QR     template.HTML
}

func (d *Desk) enrolPage(w http.ResponseWriter, r *http.Request) {
	d.showEnrol(w, r, http.StatusOK, "")
}

func (d *Desk) showEnrol(w http.ResponseWriter, r *http.Request, status int, msg string) {
	pending := cookie(r, pendingCookie)
	if pending == "" {
		seeOther(w, r, "/login")
		return
	}
	en, err := d.staff.BeginEnrolment(r.Context(), pending)
	if err != nil {
		if errors.Is(err, staff.ErrAlreadyEnrolled) {
			seeOther(w, r, "/login/code")
			return
		}
		d.secondStepFailed(w, r, "enrol-begin", err)
		return
	}
	d.render(w, r, status, "enrol", &view{Title: "Set up your authenticator app", Error: msg,
		D: enrolView{Account: en.Account, Issuer: en.Issuer, Secret: spaced(en.Secret), Expires: d.clock(en.Expires), Action: "/login/enrol"}})
}

// enrolQR is the otpauth URL of the login's set-up as a QR code. It is
// made afresh from the pending login (the same secret while it lasts)
// and never cached.
func (d *Desk) enrolQR(w http.ResponseWriter, r *http.Request) {
	pending := cookie(r, pendingCookie)
	if pending == "" {
		http.Error(w, "not logging in", http.StatusUnauthorized)
		return
	}
	en, err := d.staff.BeginEnrolment(r.Context(), pending)
	if err != nil {
		http.Error(w, "no set-up under way", http.StatusUnauthorized)
		return
	}
	svg, err := qrSVG(en.URL)
	if err != nil {
		d.log.Error("QR code", "err", err)
		http.Error(w, "QR code failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Write(svg)
}

func (d *Desk) enrolPost(w http.ResponseWriter, r *http.Request) {
	pending := cookie(r, pendingCookie)
	if pending == "" {
		seeOther(w, r, "/login")
		return
	}
	li, err := d.staff.ConfirmEnrolment(r.Context(), pending, strings.TrimSpace(r.PostFormValue("code")), httpsec.Source(r))
	if err != nil {
		d.secondStepFailed(w, r, "enrol", err)
		return
	}
	d.loggedIn(w, r, li)
}

func (d *Desk) logout(w http.ResponseWriter, r *http.Request) {
	if token := cookie(r, sessionCookie); token != "" {
		if err := d.staff.EndSession(r.Context(), token, httpsec.Source(r)); err != nil && !errors.Is(err, staff.ErrSessionInvalid) {
			d.log.Error("logout", "err", err)
		}
	}
	clearCookie(w, sessionCookie)
	clearCookie(w, pendingCookie)
	seeOther(w, r, "/login")
}

func (d *Desk) passwordPage(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	d.render(w, r, http.StatusOK, "password", &view{Title: "Change your password", Me: &me})
}

func (d *Desk) passwordPost(w http.ResponseWriter, r *http.Request) {
	d.changePassword(w, r, func(status int, msg string) {
		me := current(r).account
		d.render(w, r, status, "password", &view{Title: "Change your password", Me: &me, Error: msg})
	})
}

// changePassword changes the holder's password from the form (current,
// code, new, repeat), re-issues the session cookie for the new session
// staff starts (every other one ends), and says so; a refusal goes to
// refused with its status and message, and nothing changed.
func (d *Desk) changePassword(w http.ResponseWriter, r *http.Request, refused func(status int, msg string)) {
	l := current(r)
	newPass := r.PostFormValue("new")
	code := strings.TrimSpace(r.PostFormValue("code"))
	switch {
	case newPass != r.PostFormValue("repeat"):
		refused(http.StatusBadRequest, "The two new passwords differ; type the same one twice.")
		return
	case code == "":
		refused(http.StatusBadRequest, noCode)
		return
	}
	li, err := d.staff.ChangePassword(r.Context(), l.token, r.PostFormValue("current"), code, newPass, httpsec.Source(r))
	if err != nil {
		if status, ok := d.refusal(w, r, &l.account, "password change", err); ok {
			refused(status, userMessage(err))
		}
		return
	}
	setCookie(w, sessionCookie, li.Token, 0)
	d.log.Info("password changed", "staff", li.Account.Name, "from", httpsec.Source(r))
	d.render(w, r, http.StatusOK, "message", &view{Title: "Password changed", Me: &li.Account,
		D: messageView{Text: "Your password is changed. Your other sessions were logged out.", Next: "/"}})
}

// noCode is the answer to a form sent without its code: nothing is
// checked, nothing counts.
const noCode = "Type the code your authenticator app shows now."

// refusal sorts a refused change of one's own account. A refusal the user
// can correct (a wrong password or code, a replayed code, a weak password,
// the delay after a wrong try, a lock) is logged without the input and
// returns its status and true: the caller shows userMessage(err). An ended
// session goes to the login, and anything else is a failure; both answer
// here and return false.
func (d *Desk) refusal(w http.ResponseWriter, r *http.Request, me *staff.Account, what string, err error) (int, bool) {
	var retry *staff.RetryError
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, staff.ErrSessionInvalid):
		clearCookie(w, sessionCookie)
		seeOther(w, r, "/login?ended=1")
		return 0, false
	case errors.Is(err, staff.ErrTryLater):
		status = http.StatusTooManyRequests
		if errors.As(err, &retry) {
			w.Header().Set("Retry-After", itoa(int64(retry.After/time.Second)))
		}
	case errors.Is(err, staff.ErrLocked):
		status = http.StatusForbidden
	case errors.Is(err, staff.ErrInvalid), errors.Is(err, staff.ErrWrongPassword), errors.Is(err, staff.ErrCodeInvalid),
		errors.Is(err, staff.ErrCodeReplayed):
	default:
		d.fail(w, r, me, what, err)
		return 0, false
	}
	d.log.Info(what+" refused", "staff", me.Name, "reason", reason(err), "from", httpsec.Source(r))
	return status, true
}
