package desk

import (
	"context"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"keycard/sessions"
	"keycard/staff"
	"keycard/vouchers"
)

// A first login sets up TOTP from the QR page and shows the recovery
// codes once; a later login needs the password and a fresh code, and a
// replayed code is refused.
func TestLoginWithTOTP(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	// Not logged in: every page leads to the login.
	if _, page := b.get("/"); !strings.Contains(page, `action="/login"`) {
		t.Fatalf("GET / without a session:\n%s", page)
	}
	if _, _, err := f.ss.Add(context.Background(), vouchers.Actor{Name: "admin", Source: "cli"},
		staff.NewAccount{Name: "alice", Role: staff.RoleFrontDesk, Password: "amber harbour lanterns glow"}); err != nil {
		t.Fatal(err)
	}
	if status, page := b.post("/login", "name", "alice", "password", "wrong password here"); status != http.StatusUnauthorized || !strings.Contains(page, "Wrong name or password") {
		t.Errorf("wrong password: %d\n%s", status, page)
	}
	f.clock.Advance(10 * time.Second) // past the delay after a wrong password
	status, page := b.post("/login", "name", "alice", "password", "amber harbour lanterns glow")
	if status != http.StatusOK || !strings.Contains(page, `src="/login/enrol/qr.svg"`) {
		t.Fatalf("first login: %d\n%s", status, page)
	}
	secret := enrolSecret(t, page)
	// The QR code is served by the desk itself, as SVG, never cached.
	req, _ := http.NewRequest("GET", f.srv.URL+"/login/enrol/qr.svg", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("QR code: %d %v", resp.StatusCode, resp.Header)
	}
	if status, page := b.post("/login/enrol", "code", "000000"); status != http.StatusUnauthorized || !strings.Contains(page, "Wrong code") {
		t.Errorf("wrong set-up code: %d\n%s", status, page)
	}
	f.clock.Advance(10 * time.Second)
	status, page = b.post("/login/enrol", "code", f.code(secret))
	if status != http.StatusOK {
		t.Fatalf("confirm set-up: %d\n%s", status, page)
	}
	if n := strings.Count(page, "<li><code>"); n != staff.RecoveryCodeCount {
		t.Errorf("the recovery page shows %d codes, want %d:\n%s", n, staff.RecoveryCodeCount, page)
	}
	if strings.Contains(page, secret) || strings.Contains(page, spaced(secret)) {
		t.Error("the TOTP secret is shown again after set-up")
	}
	c := b.cookie(sessionCookie)
	if !strings.HasPrefix(c, staff.SessionPrefix) {
		t.Fatalf("no session cookie after set-up (%q)", c)
	}

	// The cookie's attributes, as the server sets them.
	f.clock.Advance(30 * time.Second)
	form := "name=alice&password=" + strings.ReplaceAll("amber harbour lanterns glow", " ", "+")
	req, _ = http.NewRequest("POST", f.srv.URL+"/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	raw := *f.srv.Client()
	raw.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = raw.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/code" {
		t.Fatalf("second login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	setCookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{pendingCookie + "=", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("the login cookie %q lacks %s", setCookie, want)
		}
	}

	// A second browser: password, then the code; the same code again is
	// refused.
	b2 := f.browser()
	f.clock.Advance(30 * time.Second)
	if _, page := b2.post("/login", "name", "alice", "password", "amber harbour lanterns glow"); !strings.Contains(page, `action="/login/code"`) {
		t.Fatalf("second login's code page:\n%s", page)
	}
	code := f.code(secret)
	if _, page := b2.post("/login/code", "code", code); !strings.Contains(page, "Change your password") {
		t.Fatalf("login with a code (the password still must change):\n%s", page)
	}
	b3 := f.browser()
	b3.post("/login", "name", "alice", "password", "amber harbour lanterns glow")
	if status, page := b3.post("/login/code", "code", code); status != http.StatusUnauthorized || !strings.Contains(page, "already used") {
		t.Errorf("a replayed code: %d\n%s", status, page)
	}
}

// Too many wrong passwords lock the account, and the page says what to do.
func TestLockoutMessage(t *testing.T) {
	f := newFixture(t, nil)
	m := f.newMember("bob", staff.RoleFrontDesk)
	b := f.browser()
	var page string
	var status int
	for i := 0; i < staff.DefaultMaxFailedPasswords; i++ {
		f.clock.Advance(time.Minute)
		if status, _ := b.post("/login", "name", "bob", "password", "not the password "+strconv.Itoa(i)); status != http.StatusUnauthorized && status != http.StatusForbidden {
			t.Errorf("wrong password %d: %d", i, status)
		}
	}
	f.clock.Advance(time.Minute)
	status, page = b.post("/login", "name", "bob", "password", m.password)
	if status != http.StatusForbidden || !strings.Contains(page, "keycard staff reset-password bob") || !strings.Contains(page, "is locked") {
		t.Errorf("locked account: %d\n%s", status, page)
	}
	// Wrong codes lock it too.
	f2 := newFixture(t, nil)
	m2 := f2.newMember("carol", staff.RoleFrontDesk)
	for i := 0; i < staff.DefaultMaxFailedCodes; i++ {
		f2.clock.Advance(time.Minute)
		b := f2.browser()
		b.post("/login", "name", "carol", "password", m2.password)
		status, page = b.post("/login/code", "code", "000000")
	}
	if status != http.StatusForbidden || !strings.Contains(page, "wrong codes") {
		t.Errorf("after %d wrong codes: %d\n%s", staff.DefaultMaxFailedCodes, status, page)
	}
}

// A form posted from another site changes nothing.
func TestCrossOriginPostRefused(t *testing.T) {
	f := newFixture(t, nil)
	m := f.newMember("dora", staff.RoleFrontDesk)
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example", "Sec-Fetch-Site", ""},
	} {
		form := map[string][]string{"room": {"101"}, "guest": {"Mallory"}, "check_out": {"2026-06-03T11:00"}, "max_devices": {"2"}, "policy": {"standard"}}
		status, page := m.do("POST", "/stays", form, h...)
		if status != http.StatusForbidden || !strings.Contains(page, "sent from another site") {
			t.Errorf("cross-origin post %v: %d\n%s", h, status, page)
		}
	}
	if list, _ := f.vs.ListStays(context.Background(), vouchers.StayFilter{}); len(list) != 0 {
		t.Errorf("a cross-origin post created %d stays", len(list))
	}
	if !strings.Contains(f.logs.String(), "cross-origin request refused") {
		t.Error("the refusal is not logged")
	}
}

// The front desk gets 403 on every admin page; admins get them.
func TestFrontDeskForbiddenOnAdminPages(t *testing.T) {
	f := newFixture(t, nil)
	fd := f.newMember("erin", staff.RoleFrontDesk)
	admin := f.newMember("root", staff.RoleAdmin)
	if _, page := fd.get("/"); strings.Contains(page, `href="/staff"`) || strings.Contains(page, `href="/audit"`) {
		t.Error("the front desk's menu links to admin pages")
	}
	for _, rq := range []struct{ method, path string }{
		{"GET", "/staff"}, {"GET", "/audit"}, {"POST", "/staff"}, {"GET", "/staff/root/disable"}, {"POST", "/staff/root/disable"}, {"POST", "/staff/root/reset-password"},
	} {
		var status int
		if rq.method == "GET" {
			status, _ = fd.get(rq.path)
		} else {
			status, _ = fd.post(rq.path, "name", "mallory", "role", "admin")
		}
		if status != http.StatusForbidden {
			t.Errorf("front desk %s %s: %d, want 403", rq.method, rq.path, status)
		}
		if status, _ := admin.get(strings.Replace(rq.path, "root/", "erin/", 1)); rq.method == "GET" && status != http.StatusOK {
			t.Errorf("admin GET %s: %d", rq.path, status)
		}
	}
	if a, err := f.ss.Account(context.Background(), "root"); err != nil || a.Disabled() {
		t.Errorf("the front desk's posts changed the admin: %+v %v", a, err)
	}
	if _, err := f.ss.Account(context.Background(), "mallory"); err == nil {
		t.Error("the front desk added an account")
	}
}

// A guest name with markup is shown as text on every page it reaches.
func TestGuestNameEscaped(t *testing.T) {
	f := newFixture(t, nil)
	admin := f.newMember("root", staff.RoleAdmin)
	evil := `<script>alert("x")</script><img src=x onerror=alert(1)>`
	status, page := admin.post("/stays", "room", "<b>7", "guest", evil, "check_out", "2026-06-01T11:00", "max_devices", "2", "policy", "standard")
	if status != http.StatusOK {
		t.Fatalf("create stay: %d\n%s", status, page)
	}
	list, _ := f.vs.ListStays(context.Background(), vouchers.StayFilter{})
	if len(list) != 1 || list[0].GuestName != evil {
		t.Fatalf("stays: %+v", list)
	}
	id := strconv.FormatInt(list[0].ID, 10)
	f.sessions.online[list[0].ID] = sessions.Session{ID: 9, StayID: list[0].ID, NAS: "<i>ap", CallingStationID: "<u>", StartedAt: t0}
	pages := map[string]string{"voucher card": page}
	for _, p := range []string{"/", "/?q=" + "%3Cscript", "/?view=today", "/?view=ended", "/stays/" + id, "/stays/" + id + "/end",
		"/stays/" + id + "/extend", "/stays/" + id + "/voucher", "/audit", "/audit?subject=stay:" + id} {
		_, pages[p] = admin.get(p)
	}
	_, pages["reissued card"] = admin.post("/stays/" + id + "/voucher")
	_, pages["extended"] = admin.post("/stays/"+id+"/extend", "check_out", "2026-06-04T11:00")
	for name, page := range pages {
		if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") || strings.Contains(page, "<b>7") || strings.Contains(page, "<i>ap") {
			t.Errorf("%s shows the markup unescaped", name)
		}
		if name != "/audit" && !strings.HasPrefix(name, "/audit?") && !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") && !strings.Contains(page, "&lt;b&gt;7") {
			t.Errorf("%s does not show the name at all:\n%s", name, page)
		}
	}
}

// A disabled account's session is refused at its next request.
func TestDisabledAccountSessionRefused(t *testing.T) {
	f := newFixture(t, nil)
	fd := f.newMember("fred", staff.RoleFrontDesk)
	admin := f.newMember("root", staff.RoleAdmin)
	if status, page := fd.get("/"); status != 200 || !strings.Contains(page, "<h1>Stays</h1>") {
		t.Fatalf("fred's stays: %d\n%s", status, page)
	}
	if _, page := admin.get("/staff/fred/disable"); !strings.Contains(page, "Disable fred?") {
		t.Fatalf("confirm page:\n%s", page)
	}
	if status, page := admin.post("/staff/fred/disable"); status != 200 || !strings.Contains(page, "fred is disabled") {
		t.Fatalf("disable: %d\n%s", status, page)
	}
	if _, page := fd.get("/"); !strings.Contains(page, "Your session has ended") {
		t.Errorf("a disabled account's session still works:\n%s", page)
	}
	entries, _ := f.vs.AuditLog(context.Background(), 0)
	found := false
	for _, e := range entries {
		found = found || (e.Actor == "staff:root" && e.Source == "127.0.0.1" && strings.Contains(e.Subject, "fred"))
	}
	if !found {
		t.Errorf("the disable is not audited as staff:root from 127.0.0.1: %+v", entries[:min(5, len(entries))])
	}
}

var codeRE = regexp.MustCompile(`id="voucher-code" class="code">([A-Z0-9-]+)<`)

// The front desk's day: create a stay (a voucher card with the portal's
// QR code), find it, see its live session and usage, end it after a
// confirmation; every change audited as staff:<name> from the client's
// address.
func TestStayLifecycle(t *testing.T) {
	f := newFixture(t, nil)
	fd := f.newMember("gina", staff.RoleFrontDesk)
	if _, page := fd.get("/stays/new"); !strings.Contains(page, `value="2026-06-02T11:00"`) {
		t.Errorf("the new-stay form does not offer tomorrow 11:00:\n%s", page)
	}
	status, card := fd.post("/stays", "room", "412", "guest", "Ada Lovelace", "check_out", "2026-06-01T11:00", "max_devices", "3", "policy", "premium")
	if status != 200 {
		t.Fatalf("create: %d\n%s", status, card)
	}
	m := codeRE.FindStringSubmatch(card)
	if m == nil || !strings.Contains(card, portalURL) || !strings.Contains(card, `src="/portal-qr.svg"`) {
		t.Fatalf("voucher card:\n%s", card)
	}
	if _, err := f.vs.StayForVoucher(context.Background(), vouchers.Actor{Name: "guest", Source: "test"}, m[1]); err != nil {
		t.Errorf("the card's code does not sign in: %v", err)
	}
	if _, qr := fd.get("/portal-qr.svg"); !strings.HasPrefix(qr, "<svg") || strings.Contains(qr, m[1]) {
		t.Errorf("portal QR code: %.80s", qr)
	}
	list, _ := f.vs.ListStays(context.Background(), vouchers.StayFilter{})
	st := list[0]
	id := strconv.FormatInt(st.ID, 10)
	// Found by room, by name, and among today's departures.
	for _, q := range []string{"/?q=412", "/?q=lovelace", "/?view=today"} {
		if _, page := fd.get(q); !strings.Contains(page, `href="/stays/`+id+`"`) {
			t.Errorf("%s does not list the stay", q)
		}
	}
	if _, page := fd.get("/?q=999"); strings.Contains(page, `href="/stays/`+id+`"`) {
		t.Error("a search for another room lists the stay")
	}
	f.sessions.online[st.ID] = sessions.Session{ID: 5, StayID: st.ID, DeviceID: 3, NAS: "lobby-ap", CallingStationID: "02-00-00-00-00-01",
		FramedIP: netip.MustParseAddr("10.1.2.3"), StartedAt: t0, InputOctets: 3 << 20, OutputOctets: 1 << 10}
	_, page := fd.get("/stays/" + id)
	for _, want := range []string{"lobby-ap", "02-00-00-00-00-01", "10.1.2.3", "3.0 MiB in", `href="/stays/` + id + `/end"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the stay page lacks %q", want)
		}
	}
	// Ending needs the confirmation page's post.
	if _, page := fd.get("/stays/" + id + "/end"); !strings.Contains(page, `action="/stays/`+id+`/end"`) || !strings.Contains(page, "End the stay now") {
		t.Fatalf("confirm page:\n%s", page)
	}
	if got, _ := f.vs.Stay(context.Background(), st.ID); got.EndedAt != nil {
		t.Fatal("the confirm page ended the stay")
	}
	status, page = fd.post("/stays/" + id + "/end")
	if status != 200 || !strings.Contains(page, "The stay has ended") || !strings.Contains(page, `id="stay-status">ended<`) {
		t.Fatalf("end: %d\n%s", status, page)
	}
	entries, _ := f.vs.AuditLog(context.Background(), 0)
	var actions []string
	for _, e := range entries {
		if e.Subject == "stay:"+id {
			actions = append(actions, e.Action)
			if e.Actor != "staff:gina" || e.Source != "127.0.0.1" {
				t.Errorf("audit entry %s by %s from %s, want staff:gina from 127.0.0.1", e.Action, e.Actor, e.Source)
			}
		}
	}
	if len(actions) < 2 {
		t.Errorf("audit for the stay: %v", actions)
	}
	// Logout ends the session for good.
	token := fd.cookie(sessionCookie)
	fd.post("/logout")
	if _, _, err := f.ss.SessionByToken(context.Background(), token, f.clock.Now()); err == nil {
		t.Error("the session lives on after logout")
	}
}

// No page and no log line holds a password, a TOTP secret after set-up,
// a session or login token.
func TestNoSecretsInPagesOrLogs(t *testing.T) {
	f := newFixture(t, nil)
	m := f.newMember("hank", staff.RoleAdmin)
	f.pages = nil // the set-up page showed the secret, as it must
	m.get("/")
	m.post("/stays", "room", "12", "guest", "Guest", "check_out", "2026-06-02T11:00", "max_devices", "2", "policy", "standard")
	m.get("/audit")
	m.get("/staff")
	m.post("/staff", "name", "ivy", "role", "front_desk", "password", "a quiet harbour at dawn")
	b := f.browser()
	b.post("/login", "name", "hank", "password", "wrong password again")
	pending := ""
	f.clock.Advance(time.Minute)
	b.post("/login", "name", "hank", "password", m.password)
	pending = b.cookie(pendingCookie)
	b.post("/login/code", "code", f.code(m.secret))
	secrets := map[string]string{"password": m.password, "new account's password": "a quiet harbour at dawn", "TOTP secret": m.secret,
		"spaced TOTP secret": spaced(m.secret), "session token": m.cookie(sessionCookie), "second session token": b.cookie(sessionCookie), "login token": pending,
		"wrong password": "wrong password again"}
	logs := f.logs.String()
	for what, s := range secrets {
		if s == "" {
			t.Errorf("no %s to look for", what)
			continue
		}
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the %s", what)
		}
		for i, p := range f.pages {
			if strings.Contains(p, s) {
				t.Errorf("page %d holds the %s", i, what)
			}
		}
	}
}

// The API handler answers at /api/v1 without the desk's login.
func TestAPIMounted(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"path":"` + r.URL.Path + `"}`))
	})
	f := newFixture(t, api)
	b := f.browser()
	if status, body := b.do("POST", "/api/v1/stays", nil); status != 200 || body != `{"path":"/api/v1/stays"}` {
		t.Errorf("API: %d %s", status, body)
	}
	if _, page := b.get("/api"); !strings.Contains(page, "There is no such page") {
		t.Errorf("/api is not the API: %s", page)
	}
}
