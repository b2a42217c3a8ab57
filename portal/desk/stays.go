package desk

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"keycard/sessions"
	"keycard/vouchers"
)

// stayRow is one stay as the list shows it.
type stayRow struct {
	ID                  int64
	Room, Guest, Policy string
	CheckIn, CheckOut   string
	Status              string
	Over                bool
}

func (d *Desk) stayRow(st vouchers.Stay, now time.Time) stayRow {
	return stayRow{ID: st.ID, Room: st.Room, Guest: st.GuestName, Policy: st.Policy,
		CheckIn: d.clock(st.CheckIn), CheckOut: d.clock(st.CheckOut), Status: stayStatus(st, now), Over: st.Over(now)}
}

func stayStatus(st vouchers.Stay, now time.Time) string {
	switch {
	case st.EndedAt != nil:
		return "ended"
	case st.Over(now):
		return "checked out"
	case now.Before(st.CheckIn):
		return "arriving"
	default:
		return "staying"
	}
}

type staysView struct {
	Query string
	View  string // "", "today" or "ended"
	Stays []stayRow
	Today string
}

// staysPage lists the current and coming stays, searched by room or
// guest name; ?view=today keeps those checking out today, ?view=ended
// shows stays that are over too.
func (d *Desk) staysPage(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	now := d.now()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	which := r.URL.Query().Get("view")
	list, err := d.hotel.ListStays(r.Context(), vouchers.StayFilter{IncludeEnded: which == "ended"})
	if err != nil {
		d.fail(w, r, &me, "list stays", err)
		return
	}
	loc := d.cfg.Location
	y, m, dd := now.In(loc).Date()
	dayStart := time.Date(y, m, dd, 0, 0, 0, 0, loc)
	dayEnd := dayStart.AddDate(0, 0, 1)
	v := staysView{Query: q, View: which, Today: dayStart.Format("Monday 2 January")}
	needle := strings.ToLower(q)
	for _, st := range list {
		if which == "today" && (st.Over(now) || st.CheckOut.Before(dayStart) || !st.CheckOut.Before(dayEnd)) {
			continue
		}
		if needle != "" && !strings.EqualFold(st.Room, q) && !strings.Contains(strings.ToLower(st.GuestName), needle) &&
			!strings.HasPrefix(strings.ToLower(st.Room), needle) {
			continue
		}
		v.Stays = append(v.Stays, d.stayRow(st, now))
	}
	if which == "ended" {
		slices.Reverse(v.Stays) // the latest first
	}
	d.render(w, r, http.StatusOK, "stays", &view{Title: "Stays", Me: &me, Nav: "stays", D: v})
}

type newStayView struct {
	Room, Guest, CheckOut string
	MaxDevices            int
	Policy                string
	Policies              []string
}

func (d *Desk) defaultCheckOut() time.Time {
	now := d.now().In(d.cfg.Location)
	y, m, dd := now.Date()
	return time.Date(y, m, dd+1, d.cfg.CheckOutHour, 0, 0, 0, d.cfg.Location)
}

const formTime = "2006-01-02T15:04" // <input type=datetime-local>

func (d *Desk) newStayPage(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	v := newStayView{CheckOut: d.defaultCheckOut().Format(formTime), MaxDevices: d.cfg.DefaultMaxDevices,
		Policy: d.cfg.Policies[0], Policies: d.cfg.Policies}
	d.render(w, r, http.StatusOK, "newstay", &view{Title: "New stay", Me: &me, Nav: "new", D: v})
}

type voucherView struct {
	Stay      stayRow
	Code      string
	PortalURL string
	SSID      string
	Reissued  bool
}

func (d *Desk) createStay(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	v := newStayView{Room: strings.TrimSpace(r.PostFormValue("room")), Guest: strings.TrimSpace(r.PostFormValue("guest")),
		CheckOut: r.PostFormValue("check_out"), Policy: r.PostFormValue("policy"), Policies: d.cfg.Policies}
	var problem string
	n, err := strconv.Atoi(r.PostFormValue("max_devices"))
	v.MaxDevices = n
	checkOut, terr := time.ParseInLocation(formTime, v.CheckOut, d.cfg.Location)
	switch {
	case err != nil:
		problem = "Devices must be a number."
	case terr != nil:
		problem = "Check-out must be a date and time."
	case !slices.Contains(d.cfg.Policies, v.Policy):
		problem = "Choose one of the policies."
	}
	if problem == "" {
		st, code, err := d.hotel.CreateStay(r.Context(), actor(r, me), vouchers.NewStay{
			Room: v.Room, GuestName: v.Guest, CheckOut: checkOut, MaxDevices: n, Policy: v.Policy,
		})
		if err == nil {
			d.log.Info("stay created", "staff", me.Name, "stay", st.ID, "room", st.Room)
			d.render(w, r, http.StatusOK, "voucher", &view{Title: "Voucher for room " + st.Room, Me: &me, Nav: "new",
				D: voucherView{Stay: d.stayRow(st, d.now()), Code: code, PortalURL: d.cfg.PortalURL, SSID: d.cfg.SSID}})
			return
		}
		if !errors.Is(err, vouchers.ErrInvalid) {
			d.fail(w, r, &me, "create stay", err)
			return
		}
		problem = userMessage(err)
	}
	d.render(w, r, http.StatusBadRequest, "newstay", &view{Title: "New stay", Me: &me, Nav: "new", Error: problem, D: v})
}

type deviceRow struct {
	ID                        int64
	Label, Platform, Identity string
	Enrolled, NotAfter        string
	Revoked                   string
	RevokeReason              string
	Online                    bool
}

type sessionRow struct {
	ID          int64
	Device      string // the device's label, or its identity
	NAS         string
	Station, IP string
	Started     string
	For         string
	In, Out     string
	Stale       bool
}

type stayView struct {
	Stay      stayRow
	Raw       vouchers.Stay
	Devices   []deviceRow
	Sessions  []sessionRow
	Usage     *sessions.Usage
	MaxDevice int
	Held      int
}

func (d *Desk) stayID(w http.ResponseWriter, r *http.Request) (vouchers.Stay, bool) {
	me := current(r).account
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		d.notFound(w, r)
		return vouchers.Stay{}, false
	}
	st, err := d.hotel.Stay(r.Context(), id)
	if errors.Is(err, vouchers.ErrUnknownStay) {
		d.notFound(w, r)
		return st, false
	}
	if err != nil {
		d.fail(w, r, &me, "read stay", err)
		return st, false
	}
	return st, true
}

func (d *Desk) stayPage(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	st, ok := d.stayID(w, r)
	if !ok {
		return
	}
	v, err := d.stayView(r, st)
	if err != nil {
		d.fail(w, r, &me, "read stay", err)
		return
	}
	notice := ""
	switch r.URL.Query().Get("done") {
	case "extended":
		notice = "The stay was extended to " + v.Stay.CheckOut + "."
	case "ended":
		notice = "The stay has ended: its devices are being disconnected."
	case "revoked":
		notice = "The device was revoked and is being disconnected."
	}
	d.render(w, r, http.StatusOK, "stay", &view{Title: "Room " + st.Room + ": " + st.GuestName, Me: &me, Nav: "stays", Notice: notice, D: v})
}

func (d *Desk) stayView(r *http.Request, st vouchers.Stay) (stayView, error) {
	now := d.now()
	v := stayView{Stay: d.stayRow(st, now), Raw: st, MaxDevice: st.MaxDevices}
	devs, err := d.hotel.Devices(r.Context(), st.ID)
	if err != nil {
		return v, err
	}
	var live []sessions.Session
	if d.sessions != nil {
		live = d.sessions.Online(st.ID, 0)
		u, err := d.sessions.StayUsage(r.Context(), st.ID)
		if err != nil {
			return v, err
		}
		v.Usage = &u
	}
	for _, dv := range devs {
		row := deviceRow{ID: dv.ID, Label: dv.Label, Platform: dv.Platform, Identity: dv.Identity,
			Enrolled: d.clock(dv.EnrolledAt), NotAfter: d.clock(dv.NotAfter), RevokeReason: dv.RevokeReason}
		if dv.RevokedAt != nil {
			row.Revoked = d.clock(*dv.RevokedAt)
		} else if vouchers.HoldsPlace(dv, st, now) {
			v.Held++
		}
		for _, s := range live {
			row.Online = row.Online || s.DeviceID == dv.ID
		}
		v.Devices = append(v.Devices, row)
	}
	names := map[int64]string{}
	for _, dv := range devs {
		names[dv.ID] = dv.Label
		if dv.Label == "" {
			names[dv.ID] = dv.Identity
		}
	}
	for _, s := range live {
		name, ok := names[s.DeviceID]
		if !ok {
			name = vouchers.DeviceCommonName(s.DeviceID)
		}
		row := sessionRow{ID: s.ID, Device: name, NAS: s.NAS, Station: s.CallingStationID, Started: d.clock(s.StartedAt),
			For: humanDuration(now.Sub(s.StartedAt)), In: humanBytes(s.InputOctets), Out: humanBytes(s.OutputOctets), Stale: s.Stale}
		row.IP = "—"
		if s.FramedIP.IsValid() {
			row.IP = s.FramedIP.String()
		}
		v.Sessions = append(v.Sessions, row)
	}
	return v, nil
}

type confirmView struct {
	Title, Text, Action, Button string
	Danger                      bool
	Back                        string
	// The extend form.
	CheckOut string
	// The revoke form.
	Reason bool
}

// confirmStay asks before a stay action: GET /stays/{id}/{end,extend,voucher}.
func (d *Desk) confirmStay(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	st, ok := d.stayID(w, r)
	if !ok {
		return
	}
	back := "/stays/" + itoa(st.ID)
	who := "room " + st.Room + " (" + st.GuestName + ")"
	cv := confirmView{Action: back + "/" + r.PathValue("action"), Back: back}
	switch r.PathValue("action") {
	case "end":
		cv.Title, cv.Button, cv.Danger = "End the stay of "+who+"?", "End the stay now", true
		cv.Text = "Every device of this stay is disconnected at once and can no longer join. This cannot be undone."
	case "extend":
		cv.Title, cv.Button = "Extend the stay of "+who, "Extend the stay"
		cv.Text = "The guest's devices keep working until the new check-out; nobody needs to enrol again."
		co := st.CheckOut.In(d.cfg.Location)
		cv.CheckOut = time.Date(co.Year(), co.Month(), co.Day()+1, co.Hour(), co.Minute(), 0, 0, d.cfg.Location).Format(formTime)
	case "voucher":
		cv.Title, cv.Button = "New voucher code for "+who+"?", "Make a new code"
		cv.Text = "The old code stops working at once (devices already enrolled stay connected). Print the new card for the guest."
	default:
		d.notFound(w, r)
		return
	}
	d.render(w, r, http.StatusOK, "confirm", &view{Title: cv.Title, Me: &me, Nav: "stays", D: cv})
}

// stayAction does a confirmed stay action.
func (d *Desk) stayAction(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	st, ok := d.stayID(w, r)
	if !ok {
		return
	}
	by := actor(r, me)
	back := "/stays/" + itoa(st.ID)
	var err error
	switch r.PathValue("action") {
	case "end":
		if _, err = d.hotel.EndStay(r.Context(), by, st.ID); err == nil {
			d.log.Info("stay ended", "staff", me.Name, "stay", st.ID)
			seeOther(w, r, back+"?done=ended")
			return
		}
	case "extend":
		var co time.Time
		co, err = time.ParseInLocation(formTime, r.PostFormValue("check_out"), d.cfg.Location)
		if err != nil {
			d.render(w, r, http.StatusBadRequest, "message", &view{Title: "Not extended", Me: &me,
				D: messageView{Text: "The new check-out must be a date and time.", Next: back + "/extend"}})
			return
		}
		if _, err = d.hotel.ExtendStay(r.Context(), by, st.ID, co); err == nil {
			d.log.Info("stay extended", "staff", me.Name, "stay", st.ID, "check_out", co)
			seeOther(w, r, back+"?done=extended")
			return
		}
	case "voucher":
		var code string
		if code, err = d.hotel.ReissueVoucher(r.Context(), by, st.ID); err == nil {
			d.log.Info("voucher reissued", "staff", me.Name, "stay", st.ID)
			d.render(w, r, http.StatusOK, "voucher", &view{Title: "Voucher for room " + st.Room, Me: &me, Nav: "stays",
				D: voucherView{Stay: d.stayRow(st, d.now()), Code: code, PortalURL: d.cfg.PortalURL, SSID: d.cfg.SSID, Reissued: true}})
			return
		}
	default:
		d.notFound(w, r)
		return
	}
	if errors.Is(err, vouchers.ErrInvalid) || errors.Is(err, vouchers.ErrStayEnded) {
		d.render(w, r, http.StatusConflict, "message", &view{Title: "Not done", Me: &me, D: messageView{Text: userMessage(err), Next: back}})
		return
	}
	d.fail(w, r, &me, r.PathValue("action")+" stay", err)
}

func (d *Desk) deviceOf(w http.ResponseWriter, r *http.Request, st vouchers.Stay) (vouchers.Device, bool) {
	me := current(r).account
	id, err := strconv.ParseInt(r.PathValue("device"), 10, 64)
	if err != nil {
		d.notFound(w, r)
		return vouchers.Device{}, false
	}
	dv, err := d.hotel.Device(r.Context(), id)
	if errors.Is(err, vouchers.ErrUnknownDevice) || (err == nil && dv.StayID != st.ID) {
		d.notFound(w, r)
		return dv, false
	}
	if err != nil {
		d.fail(w, r, &me, "read device", err)
		return dv, false
	}
	return dv, true
}

func (d *Desk) confirmRevoke(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	st, ok := d.stayID(w, r)
	if !ok {
		return
	}
	dv, ok := d.deviceOf(w, r, st)
	if !ok {
		return
	}
	back := "/stays/" + itoa(st.ID)
	label := dv.Label
	if label == "" {
		label = dv.Identity
	}
	cv := confirmView{Title: "Revoke the device " + label + "?", Button: "Revoke the device", Danger: true, Reason: true,
		Text:   "The device is disconnected at once and can no longer join; its place under the stay's device limit is freed.",
		Action: back + "/devices/" + itoa(dv.ID) + "/revoke", Back: back}
	d.render(w, r, http.StatusOK, "confirm", &view{Title: cv.Title, Me: &me, Nav: "stays", D: cv})
}

func (d *Desk) revokeDevice(w http.ResponseWriter, r *http.Request) {
	me := current(r).account
	st, ok := d.stayID(w, r)
	if !ok {
		return
	}
	dv, ok := d.deviceOf(w, r, st)
	if !ok {
		return
	}
	back := "/stays/" + itoa(st.ID)
	why := strings.TrimSpace(r.PostFormValue("reason"))
	if why == "" {
		why = "revoked at the front desk"
	}
	if _, err := d.hotel.RevokeDevice(r.Context(), actor(r, me), dv.ID, why); err != nil {
		if errors.Is(err, vouchers.ErrInvalid) {
			d.render(w, r, http.StatusConflict, "message", &view{Title: "Not revoked", Me: &me, D: messageView{Text: userMessage(err), Next: back}})
			return
		}
		d.fail(w, r, &me, "revoke device", err)
		return
	}
	d.log.Info("device revoked", "staff", me.Name, "stay", st.ID, "device", dv.ID)
	seeOther(w, r, back+"?done=revoked")
}
