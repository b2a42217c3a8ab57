package desk

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"keycard/staff"
)

type accountRow struct {
	Name, Role, Status string
	Disabled           bool
	LastLogin          string
	Self               bool
}

type staffView struct {
	Accounts []accountRow
	Roles    []staff.Role
	// Added or reset: the generated password, shown once.
	Generated, GeneratedFor string
	Name, Role              string
}

func (d *Desk) accountRows(r *http.Request, me staff.Account) ([]accountRow, error) {
	list, err := d.staff.Accounts(r.Context())
	if err != nil {
		return nil, err
	}
	now := d.now()
	rows := make([]accountRow, 0, len(list))
	for _, a := range list {
		row := accountRow{Name: a.Name, Role: roleName(a.Role), Disabled: a.Disabled(), Self: a.ID == me.ID, LastLogin: "never"}
		switch {
		case a.Disabled():
			row.Status = "disabled"
		case a.Locked(now):
			row.Status = "locked (" + a.LockReason + ") until " + d.clock(*a.LockedUntil)
		case !a.TOTPEnrolled:
			row.Status = "sets up the authenticator app at first login"
		case a.MustChangePassword:
			row.Status = "must change the password"
		default:
			row.Status = "active"
		}
		if a.LastLoginAt != nil {
			row.LastLogin = d.clock(*a.LastLoginAt)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func roleName(r staff.Role) string {
	if r == staff.RoleAdmin {
		return "admin"
	}
	return "front desk"
}

func (d *Desk) showStaff(w http.ResponseWriter, r *http.Request, status int, v staffView, notice, problem string) {
	me := current(r).account
	rows, err := d.accountRows(r, me)
	if err != nil {
		d.fail(w, r, &me, "list staff", err)
		return
	}
	v.Accounts, v.Roles = rows, staff.Roles()
	if v.Role == "" {
		v.Role = string(staff.RoleFrontDesk)
	}
	d.render(w, r, status, "staff", &view{Title: "Staff accounts", Me: &me, Nav: "staff", Notice: notice, Error: problem, D: v})
}

func (d *Desk) staffPage(w http.ResponseWriter, r *http.Request) {
	d.showStaff(w, r, http.StatusOK, staffView{}, "", "")
}

func (d *Desk) addStaff(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	name := strings.TrimSpace(r.PostFormValue("name"))
	v := staffView{Name: name, Role: r.PostFormValue("role")}
	role, err := staff.ParseRole(v.Role)
	if err != nil {
		d.showStaff(w, r, http.StatusBadRequest, v, "", userMessage(err))
		return
	}
	a, generated, err := d.staff.Add(r.Context(), actor(r, me), staff.NewAccount{Name: name, Role: role, Password: r.PostFormValue("password")})
	if err != nil {
		if errors.Is(err, staff.ErrInvalid) || errors.Is(err, staff.ErrDuplicateAccount) {
			d.showStaff(w, r, http.StatusBadRequest, v, "", userMessage(err))
			return
		}
		d.fail(w, r, &me, "add staff", err)
		return
	}
	d.log.Info("staff account added", "staff", me.Name, "account", a.Name, "role", a.Role)
	notice := "Account " + a.Name + " added. At the first login they set up the authenticator app and choose their own password."
	d.showStaff(w, r, http.StatusOK, staffView{Generated: generated, GeneratedFor: a.Name}, notice, "")
}

var staffActions = map[string]struct{ title, text, button string }{
	"disable":        {"Disable %s?", "Their sessions end at once and they cannot log in until an admin enables the account again.", "Disable the account"},
	"enable":         {"Enable %s?", "They can log in again with their password and authenticator app.", "Enable the account"},
	"reset-password": {"Reset the password of %s?", "A new password is generated and shown once; their sessions end and any lock is lifted. They must choose their own at the next login.", "Reset the password"},
	"reset-2fa":      {"Reset the authenticator app of %s?", "Their TOTP secret and recovery codes are removed and their sessions end; they set up a new app at the next login. Hand the account back in person.", "Reset the app"},
}

func (d *Desk) confirmStaff(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	name, action := r.PathValue("name"), r.PathValue("action")
	sa, ok := staffActions[action]
	if !ok {
		d.notFound(w, r)
		return
	}
	cv := confirmView{Title: strings.Replace(sa.title, "%s", name, 1), Text: sa.text, Button: sa.button,
		Danger: action != "enable", Action: "/staff/" + name + "/" + action, Back: "/staff"}
	d.render(w, r, http.StatusOK, "confirm", &view{Title: cv.Title, Me: &me, Nav: "staff", D: cv})
}

func (d *Desk) staffAction(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	name, action := r.PathValue("name"), r.PathValue("action")
	by := actor(r, me)
	var err error
	var v staffView
	notice := ""
	switch action {
	case "disable":
		if name == me.Name {
			d.showStaff(w, r, http.StatusBadRequest, v, "", "You cannot disable your own account; ask another admin.")
			return
		}
		_, err = d.staff.Disable(r.Context(), by, name)
		notice = "Account " + name + " is disabled; its sessions have ended."
	case "enable":
		_, err = d.staff.Enable(r.Context(), by, name)
		notice = "Account " + name + " is enabled."
	case "reset-password":
		var generated string
		generated, err = d.staff.ResetPassword(r.Context(), by, name, "")
		v.Generated, v.GeneratedFor = generated, name
		notice = "The password of " + name + " was reset; give them the new one in person."
	case "reset-2fa":
		_, err = d.staff.ResetTOTP(r.Context(), by, name)
		notice = "The authenticator app of " + name + " was reset; they set up a new one at the next login."
	default:
		d.notFound(w, r)
		return
	}
	if err != nil {
		if errors.Is(err, staff.ErrUnknownAccount) || errors.Is(err, staff.ErrInvalid) {
			d.showStaff(w, r, http.StatusBadRequest, staffView{}, "", userMessage(err))
			return
		}
		d.fail(w, r, &me, action+" staff", err)
		return
	}
	d.log.Info("staff account changed", "staff", me.Name, "account", name, "action", action)
	d.showStaff(w, r, http.StatusOK, v, notice, "")
}

type auditView struct {
	Actor, Action, Subject, Source string
	Limit                          int
	Entries                        []auditRow
	More                           bool
}

type auditRow struct {
	ID                                 int64
	At, Actor, Source, Action, Subject string
	Detail                             string
}

// auditScan bounds how far back the filters look.
const auditScan = 20000

// auditPage is the audit log, newest first, filtered by actor, action
// (a prefix: "stay." or "staff.login"), subject and source.
func (d *Desk) auditPage(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	q := r.URL.Query()
	v := auditView{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		Subject: strings.TrimSpace(q.Get("subject")), Source: strings.TrimSpace(q.Get("source")), Limit: 200}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && n <= 5000 {
		v.Limit = n
	}
	entries, err := d.hotel.AuditLog(r.Context(), auditScan)
	if err != nil {
		d.fail(w, r, &me, "read audit log", err)
		return
	}
	for _, e := range entries {
		if (v.Actor != "" && !strings.Contains(e.Actor, v.Actor)) || (v.Action != "" && !strings.HasPrefix(e.Action, v.Action)) ||
			(v.Subject != "" && !strings.Contains(e.Subject, v.Subject)) || (v.Source != "" && !strings.Contains(e.Source, v.Source)) {
			continue
		}
		if len(v.Entries) == v.Limit {
			v.More = true
			break
		}
		v.Entries = append(v.Entries, auditRow{ID: e.ID, At: e.At.In(d.cfg.Location).Format("2006-01-02 15:04:05"), Actor: e.Actor,
			Source: e.Source, Action: e.Action, Subject: e.Subject, Detail: e.Detail})
	}
	d.render(w, r, http.StatusOK, "audit", &view{Title: "Audit log", Me: &me, Nav: "audit", D: v})
}
