package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"keycard/sessions"
	"keycard/vouchers"
)

func stayBody(ext string) string {
	return fmt.Sprintf(`{"external_id":%q,"room":"204","guest_name":"Grace Hopper","check_out":%q,"max_devices":2}`,
		ext, t0.Add(72*time.Hour).Format(time.RFC3339))
}

// create makes a stay through the API and returns it.
func (f *fixture) create(t *testing.T, ext string) stayJSON {
	t.Helper()
	ex := f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody(ext)})
	if ex.status != http.StatusCreated {
		t.Fatalf("create: %d %s", ex.status, ex.body)
	}
	var st stayJSON
	ex.json(t, &st)
	return st
}

func (f *fixture) enrol(t *testing.T, stayID int64) vouchers.Device {
	t.Helper()
	d, _, err := f.hotel.EnrolDevice(context.Background(), admin, stayID, vouchers.Enrolment{PublicKey: newKey(t), Platform: "ios", Label: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *fixture) session(t *testing.T, stayID, deviceID int64, acct string) sessions.Session {
	t.Helper()
	s, err := f.sessions.Record(context.Background(), sessions.Record{Kind: sessions.Start, NAS: "ap-lobby", AcctSessionID: acct,
		At: f.clock.Now(), StayID: stayID, DeviceID: deviceID, UserName: "device-1", CallingStationID: "02-00-00-00-00-01"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateStay(t *testing.T) {
	f := newFixture(t)
	ex := f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody("RES-1")})
	if ex.status != http.StatusCreated || ex.reqErr != nil {
		t.Fatalf("create: %d %v %s", ex.status, ex.reqErr, ex.body)
	}
	var st stayJSON
	ex.json(t, &st)
	if st.ID == 0 || st.VoucherCode == "" || st.ExternalID == nil || *st.ExternalID != "RES-1" || st.Policy != "standard" || st.MaxDevices != 2 {
		t.Fatalf("created stay = %+v", st)
	}
	if loc := ex.header.Get("Location"); loc != fmt.Sprintf("/api/v1/stays/%d", st.ID) {
		t.Fatalf("Location = %q", loc)
	}
	// The same reservation again: 409.
	f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody("RES-1")}).problem(t, 409, "conflict")

	for name, tc := range map[string]struct {
		body, kind string
		status     int
		docRejects bool // openapi.yaml refuses the request too
	}{
		"no body":        {"", "bad-request", 400, true},
		"not json":       {"{room", "bad-request", 400, true},
		"unknown field":  {`{"external_id":"R","room":"1","guest_name":"A","check_out":"2026-06-03T10:00:00Z","vip":true}`, "bad-request", 400, true},
		"wrong type":     {`{"external_id":"R","room":1,"guest_name":"A","check_out":"2026-06-03T10:00:00Z"}`, "bad-request", 400, true},
		"no check-out":   {`{"external_id":"R","room":"1","guest_name":"A"}`, "invalid", 422, true},
		"past":           {`{"external_id":"R","room":"1","guest_name":"A","check_out":"2026-05-01T10:00:00Z"}`, "invalid", 422, false},
		"no reservation": {`{"external_id":"","room":"1","guest_name":"A","check_out":"2026-06-03T10:00:00Z"}`, "invalid", 422, true},
		"bad policy":     {`{"external_id":"R","room":"1","guest_name":"A","check_out":"2026-06-03T10:00:00Z","policy":"gold"}`, "invalid", 422, false},
		"too many":       {`{"external_id":"R","room":"1","guest_name":"A","check_out":"2026-06-03T10:00:00Z","max_devices":51}`, "invalid", 422, true},
	} {
		t.Run(name, func(t *testing.T) {
			ex := f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: tc.body})
			p := ex.problem(t, tc.status, tc.kind)
			if strings.Contains(p.Detail, "vouchers:") {
				t.Fatalf("detail %q leaks a package prefix", p.Detail)
			}
			if tc.docRejects && ex.reqErr == nil {
				t.Fatalf("openapi.yaml accepts the %s request the server refuses", name)
			}
		})
	}
	ex = f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody("RES-2"), header: map[string]string{"Content-Type": "text/plain"}})
	ex.problem(t, 415, "unsupported-media-type")
	big := `{"external_id":"` + strings.Repeat("x", maxBody) + `"}`
	f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: big}).problem(t, 413, "too-large")
}

func TestLookUpAndChangeStays(t *testing.T) {
	f := newFixture(t)
	st := f.create(t, "RES-7")

	var list staysJSON
	f.do(t, req{method: "GET", path: "/api/v1/stays?external_id=RES-7", token: "reader"}).json(t, &list)
	if len(list.Stays) != 1 || list.Stays[0].ID != st.ID || list.Stays[0].VoucherCode != "" {
		t.Fatalf("lookup = %+v", list)
	}
	f.do(t, req{method: "GET", path: "/api/v1/stays?external_id=RES-404", token: "reader"}).json(t, &list)
	if len(list.Stays) != 0 {
		t.Fatalf("unknown reservation = %+v", list)
	}
	f.do(t, req{method: "GET", path: "/api/v1/stays", token: "reader"}).json(t, &list)
	if len(list.Stays) != 1 {
		t.Fatalf("list = %+v", list)
	}
	ex := f.do(t, req{method: "GET", path: "/api/v1/stays?all=maybe", token: "reader"})
	ex.problem(t, 400, "bad-request")
	if ex.reqErr == nil {
		t.Fatal("openapi.yaml accepts all=maybe")
	}

	var got stayJSON
	f.do(t, req{method: "GET", path: fmt.Sprintf("/api/v1/stays/%d", st.ID), token: "reader"}).json(t, &got)
	if got.ID != st.ID || got.Usage == nil || got.VoucherCode != "" {
		t.Fatalf("get = %+v", got)
	}
	f.do(t, req{method: "GET", path: "/api/v1/stays/999", token: "reader"}).problem(t, 404, "not-found")
	ex = f.do(t, req{method: "GET", path: "/api/v1/stays/abc", token: "reader"})
	ex.problem(t, 400, "bad-request")
	if ex.reqErr == nil {
		t.Fatal("openapi.yaml accepts a non-integer id")
	}

	later := t0.Add(96 * time.Hour).Format(time.RFC3339)
	ex = f.do(t, req{method: "POST", path: fmt.Sprintf("/api/v1/stays/%d/extend", st.ID), token: "desk", body: `{"check_out":"` + later + `"}`})
	if ex.status != 200 {
		t.Fatalf("extend: %d %s", ex.status, ex.body)
	}
	ex.json(t, &got)
	if got.CheckOut.Format(time.RFC3339) != later {
		t.Fatalf("extended check-out = %s", got.CheckOut)
	}
	f.do(t, req{method: "POST", path: fmt.Sprintf("/api/v1/stays/%d/extend", st.ID), token: "desk", body: `{"check_out":"2026-06-02T00:00:00Z"}`}).problem(t, 422, "invalid")
	f.do(t, req{method: "POST", path: fmt.Sprintf("/api/v1/stays/%d/extend", st.ID), token: "desk", body: `{}`}).problem(t, 422, "invalid")
	f.do(t, req{method: "POST", path: "/api/v1/stays/999/extend", token: "desk", body: `{"check_out":"` + later + `"}`}).problem(t, 404, "not-found")

	ex = f.do(t, req{method: "POST", path: fmt.Sprintf("/api/v1/stays/%d/end", st.ID), token: "desk"})
	if ex.status != 200 {
		t.Fatalf("end: %d %s", ex.status, ex.body)
	}
	ex.json(t, &got)
	if got.EndedAt == nil || !got.Over {
		t.Fatalf("ended stay = %+v", got)
	}
	f.do(t, req{method: "POST", path: fmt.Sprintf("/api/v1/stays/%d/end", st.ID), token: "desk"}).problem(t, 409, "conflict")
	f.do(t, req{method: "POST", path: fmt.Sprintf("/api/v1/stays/%d/extend", st.ID), token: "desk", body: `{"check_out":"` + later + `"}`}).problem(t, 409, "conflict")
	f.do(t, req{method: "POST", path: "/api/v1/stays/999/end", token: "desk", body: `{}`}).problem(t, 404, "not-found")
	f.do(t, req{method: "GET", path: "/api/v1/stays?all=true", token: "reader"}).json(t, &list)
	if len(list.Stays) != 1 || !list.Stays[0].Over {
		t.Fatalf("all stays = %+v", list)
	}
}

func TestDevices(t *testing.T) {
	f := newFixture(t)
	st := f.create(t, "RES-9")
	d := f.enrol(t, st.ID)

	var list devicesJSON
	f.do(t, req{method: "GET", path: fmt.Sprintf("/api/v1/stays/%d/devices", st.ID), token: "reader"}).json(t, &list)
	if len(list.Devices) != 1 || list.Devices[0].ID != d.ID || list.Devices[0].RevokedAt != nil {
		t.Fatalf("devices = %+v", list)
	}
	f.do(t, req{method: "GET", path: "/api/v1/stays/999/devices", token: "reader"}).problem(t, 404, "not-found")

	path := fmt.Sprintf("/api/v1/devices/%d/revoke", d.ID)
	ex := f.do(t, req{method: "POST", path: path, token: "devices", body: `{"reason":"lost phone"}`})
	if ex.status != 200 {
		t.Fatalf("revoke: %d %s", ex.status, ex.body)
	}
	var got deviceJSON
	ex.json(t, &got)
	if got.RevokedAt == nil || got.RevokeReason != "lost phone" {
		t.Fatalf("revoked = %+v", got)
	}
	f.do(t, req{method: "POST", path: path, token: "devices", body: `{"reason":"again"}`}).problem(t, 422, "invalid")
	ex = f.do(t, req{method: "POST", path: path, token: "devices", body: `{"reason":""}`})
	ex.problem(t, 422, "invalid")
	if ex.reqErr == nil {
		t.Fatal("openapi.yaml accepts an empty reason")
	}
	f.do(t, req{method: "POST", path: path, token: "devices"}).problem(t, 400, "bad-request")
	f.do(t, req{method: "POST", path: "/api/v1/devices/999/revoke", token: "devices", body: `{"reason":"x"}`}).problem(t, 404, "not-found")
}

func TestSessions(t *testing.T) {
	f := newFixture(t)
	st := f.create(t, "RES-11")
	d := f.enrol(t, st.ID)
	s := f.session(t, st.ID, d.ID, "acct-1")
	other := f.session(t, 0, 0, "acct-2")

	var list sessionsJSON
	f.do(t, req{method: "GET", path: fmt.Sprintf("/api/v1/sessions?stay=%d", st.ID), token: "reader"}).json(t, &list)
	if len(list.Sessions) != 1 || list.Sessions[0].ID != s.ID || !list.Sessions[0].Open || *list.Sessions[0].DeviceID != d.ID {
		t.Fatalf("sessions of the stay = %+v", list)
	}
	f.do(t, req{method: "GET", path: "/api/v1/sessions?all=true", token: "reader"}).json(t, &list)
	if len(list.Sessions) != 2 || list.Sessions[1].StayID != nil {
		t.Fatalf("all sessions = %+v", list)
	}
	ex := f.do(t, req{method: "GET", path: "/api/v1/sessions?stay=-1", token: "reader"})
	ex.problem(t, 400, "bad-request")
	if ex.reqErr == nil {
		t.Fatal("openapi.yaml accepts stay=-1")
	}

	ex = f.do(t, req{method: "POST", path: fmt.Sprintf("/api/v1/sessions/%d/kick", s.ID), token: "sessions", body: `{"reason":"guest asked"}`})
	if ex.status != 200 {
		t.Fatalf("kick: %d %s", ex.status, ex.body)
	}
	var k kickJSON
	ex.json(t, &k)
	if k.Outcome != "ack" || k.Session.ID != s.ID || !slices.Equal(f.kicker.kicked, []int64{s.ID}) || f.kicker.reasons[0] != KickReason {
		t.Fatalf("kick = %+v, kicker %+v", k, f.kicker)
	}
	rows := f.auditRows(t)
	last := rows[len(rows)-1]
	if last.Action != "session.kick" || last.Actor != "api:sessions" || !strings.Contains(last.Detail, `reason="guest asked"`) {
		t.Fatalf("kick audit = %+v", last)
	}
	f.do(t, req{method: "POST", path: "/api/v1/sessions/999/kick", token: "sessions"}).problem(t, 404, "not-found")

	f.kicker.err = fmt.Errorf("no answer from 192.0.2.1")
	f.do(t, req{method: "POST", path: fmt.Sprintf("/api/v1/sessions/%d/kick", other.ID), token: "sessions"}).problem(t, 502, "nas-unreachable")

	if _, err := f.sessions.Record(context.Background(), sessions.Record{Kind: sessions.Stop, NAS: "ap-lobby", AcctSessionID: "acct-1", At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	f.do(t, req{method: "POST", path: fmt.Sprintf("/api/v1/sessions/%d/kick", s.ID), token: "sessions"}).problem(t, 409, "conflict")
}
