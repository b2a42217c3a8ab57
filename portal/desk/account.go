package desk

import (
	"html/template"
	"net/http"
	"strings"

	"keycard/portal/httpsec"
	"keycard/staff"
)

// The account page: what every member of staff changes for themselves,
// each with the current TOTP code (issue 8: someone at a desk left logged
// in cannot take the account over) — the password, the authenticator app
// (a new phone), and the recovery codes. A new TOTP secret and new
// recovery codes are shown once, on the answer to the post that made
// them, and never again.

type accountView struct {
	Role          staff.Role
	CodesLeft     int
	PasswordSince string
	// Failed is the form whose post was refused ("password", "2fa",
	// "recovery"), to focus it again.
	Failed string
}

func (d *Desk) accountPage(w http.ResponseWriter, r *http.Request) {
	d.showAccount(w, r, http.StatusOK, "", "")
}

// showAccount shows the account page, with msg as the error of the form
// failed when it is not "".
func (d *Desk) showAccount(w http.ResponseWriter, r *http.Request, status int, failed, msg string) {
	me := current(r).account
	av := accountView{Role: me.Role, CodesLeft: me.RecoveryCodesLeft, Failed: failed}
	if !me.PasswordChangedAt.IsZero() {
		av.PasswordSince = d.clock(me.PasswordChangedAt)
	}
	d.render(w, r, status, "account", &view{Title: "Your account", Me: &me, Nav: "account", Error: msg, D: av})
}

func (d *Desk) accountPassword(w http.ResponseWriter, r *http.Request) {
	d.changePassword(w, r, func(status int, msg string) {
		d.showAccount(w, r, status, "password", "Your password is unchanged. "+msg)
	})
}

// beginTOTPChange checks the current code and shows a new secret to scan
// (QR code and text), once: the old app keeps working until a code from
// the new one confirms it.
func (d *Desk) beginTOTPChange(w http.ResponseWriter, r *http.Request) {
	l := current(r)
	const unchanged = "Your authenticator app is unchanged. "
	code := strings.TrimSpace(r.PostFormValue("code"))
	if code == "" {
		d.showAccount(w, r, http.StatusBadRequest, "2fa", unchanged+noCode)
		return
	}
	en, err := d.staff.BeginTOTPChange(r.Context(), l.token, code, httpsec.Source(r))
	if err != nil {
		if status, ok := d.refusal(w, r, &l.account, "authenticator change", err); ok {
			d.showAccount(w, r, status, "2fa", unchanged+userMessage(err))
		}
		return
	}
	svg, err := qrSVG(en.URL)
	if err != nil {
		d.fail(w, r, &l.account, "QR code", err)
		return
	}
	d.log.Info("authenticator change started", "staff", l.account.Name, "from", httpsec.Source(r))
	noStore(w)
	d.render(w, r, http.StatusOK, "enrol", &view{Title: "Move to a new authenticator app", Me: &l.account, Nav: "account",
		D: enrolView{Account: en.Account, Issuer: en.Issuer, Secret: spaced(en.Secret), Expires: d.clock(en.Expires),
			Action: "/account/2fa/confirm", Change: true, QR: template.HTML(svg)}}) // qrSVG writes only numbers into fixed markup
}

// confirmTOTPChange makes the new app the account's once its code
// matches, and shows the new recovery codes once; the account's other
// sessions end. A wrong code shows the code form again, without the
// secret.
func (d *Desk) confirmTOTPChange(w http.ResponseWriter, r *http.Request) {
	l := current(r)
	again := func(status int, msg string) {
		d.render(w, r, status, "enrol", &view{Title: "Move to a new authenticator app", Me: &l.account, Nav: "account", Error: msg,
			D: enrolView{Account: l.account.Name, Action: "/account/2fa/confirm", Change: true}})
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	if code == "" {
		again(http.StatusBadRequest, noCode)
		return
	}
	codes, err := d.staff.ConfirmTOTPChange(r.Context(), l.token, code, httpsec.Source(r))
	if err != nil {
		if status, ok := d.refusal(w, r, &l.account, "authenticator change", err); ok {
			again(status, userMessage(err))
		}
		return
	}
	d.log.Info("authenticator changed", "staff", l.account.Name, "from", httpsec.Source(r))
	me := l.account
	me.RecoveryCodesLeft = len(codes)
	noStore(w)
	d.render(w, r, http.StatusOK, "recovery", &view{Title: "New authenticator app set up", Me: &me, Nav: "account",
		D: recoveryView{Intro: "Your new authenticator app is set up; the old one and your old recovery codes no longer work. " +
			"Your other sessions were logged out.", Codes: codes, Next: "/account"}})
}

// renewRecoveryCodes replaces the recovery codes (with a current TOTP
// code, not a recovery code) and shows the new ones once.
func (d *Desk) renewRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	l := current(r)
	const unchanged = "Your recovery codes are unchanged. "
	code := strings.TrimSpace(r.PostFormValue("code"))
	if code == "" {
		d.showAccount(w, r, http.StatusBadRequest, "recovery", unchanged+noCode)
		return
	}
	codes, err := d.staff.NewRecoveryCodes(r.Context(), l.token, code, httpsec.Source(r))
	if err != nil {
		if status, ok := d.refusal(w, r, &l.account, "new recovery codes", err); ok {
			d.showAccount(w, r, status, "recovery", unchanged+userMessage(err))
		}
		return
	}
	d.log.Info("recovery codes renewed", "staff", l.account.Name, "from", httpsec.Source(r))
	me := l.account
	me.RecoveryCodesLeft = len(codes)
	noStore(w)
	d.render(w, r, http.StatusOK, "recovery", &view{Title: "New recovery codes", Me: &me, Nav: "account",
		D: recoveryView{Intro: "You have new recovery codes; the old ones no longer work.", Codes: codes, Next: "/account"}})
}

// noStore keeps a page with a secret out of every cache. httpsec.Headers
// sets it on every response already; a page that shows a secret does not
// rely on that alone.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}
