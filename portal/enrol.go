package portal

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"keycard/vouchers"
)

// maxFormBytes bounds a posted form: a code, a label, a handle.
const maxFormBytes = 8 << 10

// home is the start of the flow: the sign-in form, or, in a captive
// mini-browser, the one step that gets the guest into the real browser.
func (p *Portal) home(w http.ResponseWriter, r *http.Request) {
	if r.Host != p.url.Host {
		// Reached by another name or address (a DNS interception, a
		// bookmark): go to the one the certificate and the profiles name.
		http.Redirect(w, r, p.URL(), http.StatusFound)
		return
	}
	c := detect(r)
	if c.mini && r.URL.Query().Get("browser") != "full" {
		pg := p.newPage(r, "mini")
		pg.MiniAndroid = c.platform == PlatformAndroid
		p.render(w, http.StatusOK, pg)
		return
	}
	p.form(w, r, http.StatusOK, c, "", nil)
}

// form renders the sign-in form, with an error message when errKey is
// set. Only the room and the device label are put back into the form;
// the code the guest typed never is.
func (p *Portal) form(w http.ResponseWriter, r *http.Request, status int, c client, errKey string, args []any) {
	pg := p.newPage(r, "form")
	pg.Primary, pg.Others = pg.choices(c, "")
	if errKey != "" {
		pg.Error = pg.T(errKey, args...)
		pg.Label = r.PostFormValue("label")
		pg.Room = r.PostFormValue("room")
		pg.Surname = r.PostFormValue("surname")
	}
	p.render(w, status, pg)
}

// enrol is every POST of the flow. Without a sign-in handle it signs the
// guest in (voucher code, or room and surname) and makes the profile for
// the platform the guest chose; with one (from a page it rendered a few
// minutes ago) it makes another profile, or replaces a device at the cap.
func (p *Portal) enrol(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.message(w, r, http.StatusBadRequest, "err_title", "err_internal")
		return
	}
	// An enrolment is CPU work (the voucher's argon2id, a key, a PKCS#12)
	// around short database writes. A coach of guests arriving at once
	// would otherwise run all of it at the same time: every request slows
	// down together, and one holding SQLite's write lock, starved of CPU,
	// makes the others outwait their busy timeout ("database is locked").
	// They queue here instead, in arrival order, each then done quickly.
	select {
	case p.work <- struct{}{}:
		defer func() { <-p.work }()
	case <-r.Context().Done():
		return
	}
	c := detect(r)
	platform, ok := parsePlatform(r.PostFormValue("platform"))
	if !ok {
		platform = c.platform
	}
	req := enrolRequest{platform: platform, client: c, label: cleanLabel(r.PostFormValue("label"))}
	if h := r.PostFormValue("session"); h != "" {
		addr := clientNet(clientAddr(r))
		var si signIn
		live := p.signIns.update(h, func(s *signIn) bool {
			switch {
			case s.from != addr:
				return true // not this client's: refused, but kept for its owner
			case s.uses >= maxSignInUses:
				return false // used up: forgotten
			}
			s.uses++
			si = *s
			return true
		})
		if !live || si.stay == 0 {
			p.form(w, r, http.StatusForbidden, c, "err_session", nil)
			return
		}
		req.signIn, req.handle = si, h
		if id := r.PostFormValue("replace"); id != "" {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				p.message(w, r, http.StatusBadRequest, "err_title", "err_internal")
				return
			}
			req.replace = n
		}
		p.makeAndShow(w, r, req)
		return
	}
	p.signIn(w, r, req)
}

// enrolRequest is one POST, as enrol read it.
type enrolRequest struct {
	platform Platform
	client   client
	label    string
	signIn   signIn
	handle   string
	replace  int64 // a device of the stay to revoke first
}

// signIn checks the guest's code (or room and surname) under the rate
// limit, remembers the sign-in, and goes on to the profile.
func (p *Portal) signIn(w http.ResponseWriter, r *http.Request, req enrolRequest) {
	addr := clientAddr(r)
	by := guest(r)
	if v := p.limiter.allow(addr); !v.ok() {
		p.refuseTry(w, r, req.client, v)
		return
	}
	var (
		st  vouchers.Stay
		err error
		via string
	)
	if p.cfg.RoomLogin {
		room, surname := strings.TrimSpace(r.PostFormValue("room")), strings.TrimSpace(r.PostFormValue("surname"))
		if room == "" || surname == "" {
			p.form(w, r, http.StatusUnprocessableEntity, req.client, "err_missing_room", nil)
			return
		}
		via = vouchers.SignInRoom
		st, err = p.hotel.StayForRoom(r.Context(), by, room, surname)
	} else {
		code := strings.TrimSpace(r.PostFormValue("code"))
		if code == "" {
			p.form(w, r, http.StatusUnprocessableEntity, req.client, "err_missing", nil)
			return
		}
		via = vouchers.SignInVoucher
		st, err = p.hotel.StayForVoucher(r.Context(), by, code)
	}
	mistyped := "err_mistyped"
	if p.cfg.RoomLogin {
		mistyped = "err_mistyped_room"
	}
	switch {
	case errors.Is(err, vouchers.ErrVoucherLocked):
		p.limiter.wrong(addr)
		p.log.Info("sign-in refused", "reason", "voucher locked", "via", via, "from", by.Source)
		p.form(w, r, http.StatusLocked, req.client, "err_locked", nil)
		return
	case errors.Is(err, vouchers.ErrVoucherInvalid), errors.Is(err, vouchers.ErrInvalid):
		v := p.limiter.wrong(addr)
		p.log.Info("sign-in refused", "reason", "wrong code", "via", via, "from", by.Source, "slowed", !v.ok())
		if !v.ok() {
			p.refuseTry(w, r, req.client, v)
			return
		}
		p.form(w, r, http.StatusUnprocessableEntity, req.client, mistyped, nil)
		return
	case errors.Is(err, vouchers.ErrStayEnded):
		p.log.Info("sign-in refused", "reason", "stay ended", "via", via, "from", by.Source)
		p.form(w, r, http.StatusGone, req.client, "err_ended", nil)
		return
	case err != nil:
		p.log.Error("sign-in failed", "via", via, "from", by.Source, "err", err)
		p.form(w, r, http.StatusInternalServerError, req.client, "err_internal", nil)
		return
	}
	req.signIn = signIn{stay: st.ID, via: via, from: clientNet(addr), uses: 1}
	if req.handle, err = p.signIns.put(req.signIn, p.cfg.SignInLifetime); err != nil {
		p.log.Error("sign-in failed", "via", via, "from", by.Source, "err", err)
		p.form(w, r, http.StatusInternalServerError, req.client, "err_internal", nil)
		return
	}
	p.log.Info("guest signed in", "stay", st.ID, "via", via, "from", by.Source)
	p.makeAndShow(w, r, req)
}

// refuseTry answers a try the rate limit holds back: 429, with how long
// to wait, or that this address is blocked.
func (p *Portal) refuseTry(w http.ResponseWriter, r *http.Request, c client, v verdict) {
	secs := int((v.wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	if v.blocked {
		p.log.Warn("sign-in blocked", "reason", "too many wrong codes", "from", guest(r).Source, "for", v.wait.Round(time.Second))
		p.form(w, r, http.StatusTooManyRequests, c, "err_blocked", nil)
		return
	}
	p.form(w, r, http.StatusTooManyRequests, c, "err_wait", []any{max(secs, 1)})
}

// makeAndShow makes the profile for a signed-in guest and shows the page
// with its downloads, or the stay's devices when it is at its cap.
func (p *Portal) makeAndShow(w http.ResponseWriter, r *http.Request, req enrolRequest) {
	ctx := r.Context()
	by := guest(r)
	if req.replace != 0 {
		if !p.replaceDevice(w, r, req) {
			return
		}
	}
	st, err := p.hotel.Stay(ctx, req.signIn.stay)
	if err != nil {
		p.log.Error("read stay", "stay", req.signIn.stay, "err", err)
		p.form(w, r, http.StatusInternalServerError, req.client, "err_internal", nil)
		return
	}
	if st.Over(p.now()) {
		p.form(w, r, http.StatusGone, req.client, "err_ended", nil)
		return
	}
	pg := p.newPage(r, "result")
	label := req.label
	if label == "" && req.platform == req.client.platform && req.client.device != "" {
		label = pg.deviceName(req.client)
	}
	prof, err := p.makeProfile(ctx, by, st, req.signIn.via, req.platform, label)
	switch {
	case errors.Is(err, vouchers.ErrDeviceCap):
		p.showCap(w, r, req, st)
		return
	case errors.Is(err, vouchers.ErrStayEnded):
		p.form(w, r, http.StatusGone, req.client, "err_ended", nil)
		return
	case err != nil:
		p.log.Error("make profile", "stay", st.ID, "platform", req.platform, "from", by.Source, "err", err)
		p.form(w, r, http.StatusInternalServerError, req.client, "err_internal", nil)
		return
	}
	pg.Session = req.handle
	_, pg.Others = pg.choices(client{platform: req.platform}, "")
	res := &result{
		Guest:    st.GuestName,
		For:      labelOr(pg, label, req.platform),
		Until:    pg.lang.when(st.CheckOut),
		Minutes:  int(p.cfg.DownloadLifetime / time.Minute),
		Password: prof.password,
	}
	for _, f := range prof.files {
		handle, err := p.downloads.put(f.download, p.cfg.DownloadLifetime)
		if err != nil {
			p.log.Error("store download", "stay", st.ID, "err", err)
			p.form(w, r, http.StatusInternalServerError, req.client, "err_internal", nil)
			return
		}
		res.Files = append(res.Files, fileLink{Href: "/download/" + handle, Text: pg.T(f.textKey)})
	}
	res.Steps = p.steps(pg, req, prof)
	pg.Result = res
	p.log.Info("profile ready", "stay", st.ID, "device", prof.device, "platform", req.platform, "key", prof.keyMade(),
		"files", len(prof.files), "from", by.Source)
	p.render(w, http.StatusOK, pg)
	prof.forget()
}

// replaceDevice revokes the device the guest chose to replace, after
// checking it is one of the signed-in stay's; false means the answer was
// written.
func (p *Portal) replaceDevice(w http.ResponseWriter, r *http.Request, req enrolRequest) bool {
	ctx := r.Context()
	by := guest(r)
	devices, err := p.hotel.Devices(ctx, req.signIn.stay)
	if err != nil {
		p.log.Error("list devices", "stay", req.signIn.stay, "err", err)
		p.form(w, r, http.StatusInternalServerError, req.client, "err_internal", nil)
		return false
	}
	i := slices.IndexFunc(devices, func(d vouchers.Device) bool { return d.ID == req.replace })
	if i < 0 {
		p.log.Warn("replace refused", "reason", "not a device of the stay", "stay", req.signIn.stay, "device", req.replace, "from", by.Source)
		p.message(w, r, http.StatusForbidden, "err_title", "err_session")
		return false
	}
	if devices[i].RevokedAt == nil {
		if _, err := p.hotel.RevokeDevice(ctx, by, req.replace, "replaced by the guest at the portal"); err != nil && !errors.Is(err, vouchers.ErrInvalid) {
			p.log.Error("revoke replaced device", "device", req.replace, "err", err)
			p.form(w, r, http.StatusInternalServerError, req.client, "err_internal", nil)
			return false
		}
		// serve's enforcer sees the revocation in the audit feed and
		// disconnects the device's sessions.
		p.log.Info("guest replaced a device", "stay", req.signIn.stay, "device", req.replace, "from", by.Source)
	}
	return true
}

// showCap lists the stay's devices that hold a place, each with a button
// to replace it.
func (p *Portal) showCap(w http.ResponseWriter, r *http.Request, req enrolRequest, st vouchers.Stay) {
	devices, err := p.hotel.Devices(r.Context(), st.ID)
	if err != nil {
		p.log.Error("list devices", "stay", st.ID, "err", err)
		p.form(w, r, http.StatusInternalServerError, req.client, "err_internal", nil)
		return
	}
	pg := p.newPage(r, "cap")
	pg.Session = req.handle
	pg.Label = req.label
	cv := &capView{Max: st.MaxDevices, Platform: req.platform}
	now := p.now()
	for _, d := range devices {
		if !vouchers.HoldsPlace(d, st, now) {
			continue
		}
		name := d.Label
		if name == "" {
			name = pg.T("unnamed")
		}
		kind := d.Platform
		if pl, ok := parsePlatform(d.Platform); ok {
			kind = pg.T("platform_" + string(pl))
		}
		cv.Devices = append(cv.Devices, deviceView{ID: strconv.FormatInt(d.ID, 10), Label: name, Platform: kind, Since: pg.lang.when(d.EnrolledAt)})
	}
	pg.Cap = cv
	p.log.Info("device cap reached", "stay", st.ID, "devices", len(cv.Devices), "max", st.MaxDevices, "from", guest(r).Source)
	p.render(w, http.StatusConflict, pg)
}

// serveDownload hands out a profile once.
func (p *Portal) serveDownload(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusMethodNotAllowed) // a HEAD must not use up the one GET
		return
	}
	d, ok := p.downloads.take(r.PathValue("handle"))
	if !ok {
		p.message(w, r, http.StatusGone, "err_gone_title", "err_gone")
		return
	}
	defer wipe(&d)
	h := w.Header()
	h.Set("Content-Type", d.contentType)
	h.Set("Content-Length", strconv.Itoa(len(d.data)))
	if d.attachment {
		h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", d.name))
	}
	w.WriteHeader(http.StatusOK)
	w.Write(d.data)
	p.log.Info("profile downloaded", "file", d.name, "bytes", len(d.data), "from", guest(r).Source)
}

// cleanLabel keeps a device label printable and short.
func cleanLabel(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if utf8.RuneCountInString(s) > 64 {
		s = string([]rune(s)[:64])
	}
	return strings.TrimSpace(s)
}

func labelOr(pg *page, label string, pl Platform) string {
	if label != "" {
		return label
	}
	return pg.T("platform_" + string(pl))
}
