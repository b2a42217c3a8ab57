package desk

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"keycard/internal/secretbox"
	"keycard/internal/store"
	"keycard/sessions"
	"keycard/staff"
	"keycard/vouchers"
)

// t0 is the fixture's "now": a TOTP step boundary, in the morning, so
// that a check-out at 11:00 is "today".
var t0 = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeSessions has one live session for each stay in online.
type fakeSessions struct {
	mu     sync.Mutex
	online map[int64]sessions.Session
}

func (f *fakeSessions) Online(stayID, deviceID int64) []sessions.Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.online[stayID]; ok {
		return []sessions.Session{s}
	}
	return nil
}

func (f *fakeSessions) StayUsage(ctx context.Context, stayID int64) (sessions.Usage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.online[stayID]; ok {
		return sessions.Usage{Sessions: 1, Online: 1, TimeOnline: 5 * time.Minute, InputOctets: s.InputOctets, OutputOctets: s.OutputOctets}, nil
	}
	return sessions.Usage{}, nil
}

var (
	boxOnce sync.Once
	box     *secretbox.Box
)

func testBox() *secretbox.Box {
	boxOnce.Do(func() {
		var err error
		if box, err = secretbox.New([]byte("test passphrase"), bytes.Repeat([]byte{7}, secretbox.SaltSize)); err != nil {
			panic(err)
		}
	})
	return box
}

const portalURL = "https://wifi.hotel.test/"

type fixture struct {
	t        *testing.T
	clock    *fakeClock
	logs     *syncBuffer
	vs       *vouchers.Store
	ss       *staff.Store
	sessions *fakeSessions
	desk     *Desk
	srv      *httptest.Server
	// pages collects every page body fetched, for the secret checks.
	mu    sync.Mutex
	pages []string
}

func newFixture(t *testing.T, api http.Handler) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := vouchers.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := staff.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, clock: &fakeClock{t: t0}, logs: &syncBuffer{}, sessions: &fakeSessions{online: map[int64]sessions.Session{}}}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if f.vs, err = vouchers.New(db, vouchers.Options{Policies: map[string]vouchers.Policy{"standard": {}, "premium": {}}, Now: f.clock.Now, Logger: log}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.vs.Close() })
	if f.ss, err = staff.New(db, staff.Options{Audit: f.vs, Box: testBox(), Now: f.clock.Now, Logger: log, Location: time.UTC,
		Password: staff.PasswordParams{Memory: 64, Time: 1, Threads: 1}}); err != nil {
		t.Fatal(err)
	}
	if f.desk, err = New(Config{URL: "https://desk.hotel.test/", PortalURL: portalURL, HotelName: "Grand Harbour", SSID: "Harbour Guest",
		Policies: []string{"standard", "premium"}, Location: time.UTC},
		Deps{Staff: f.ss, Hotel: f.vs, Sessions: f.sessions, API: api, Logger: log, Now: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewTLSServer(f.desk.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// browser is one member of staff's browser: a cookie jar, redirects
// followed.
type browser struct {
	f *fixture
	c *http.Client
	// header is the last answer's header.
	header http.Header
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *f.srv.Client() // its transport trusts the test certificate
	c.Jar = jar
	return &browser{f: f, c: &c}
}

// do sends a request as a same-origin browser would, and returns the
// final status and body.
func (b *browser) do(method, path string, form url.Values, header ...string) (int, string) {
	b.f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.f.srv.URL+path, body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	b.header = resp.Header
	b.f.mu.Lock()
	b.f.pages = append(b.f.pages, string(data))
	b.f.mu.Unlock()
	return resp.StatusCode, string(data)
}

func (b *browser) get(path string) (int, string) { b.f.t.Helper(); return b.do("GET", path, nil) }

func (b *browser) post(path string, kv ...string) (int, string) {
	b.f.t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	return b.do("POST", path, form)
}

// cookie is the value of the browser's cookie called name.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.f.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var secretRE = regexp.MustCompile(`id="secret" class="secret">([^<]+)<`)

// enrolSecret reads the TOTP secret off the set-up page.
func enrolSecret(t *testing.T, page string) string {
	t.Helper()
	m := secretRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no secret on the set-up page:\n%s", page)
	}
	return strings.ReplaceAll(m[1], " ", "")
}

func (f *fixture) code(secret string) string {
	f.t.Helper()
	c, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// member is an account the fixture made and logged in.
type member struct {
	*browser
	name, password, secret string
	recovery               []string // the codes shown at set-up
}

var recoveryRE = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)

// recoveryCodes reads the recovery codes off the page that shows them.
func recoveryCodes(t *testing.T, page string) []string {
	t.Helper()
	var codes []string
	for _, m := range recoveryRE.FindAllStringSubmatch(page, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != staff.RecoveryCodeCount {
		t.Fatalf("%d recovery codes on the page, want %d:\n%s", len(codes), staff.RecoveryCodeCount, page)
	}
	return codes
}

// pageCount is how many pages the fixture's browsers fetched so far.
func (f *fixture) pageCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pages)
}

// pagesFrom are the pages fetched since pageCount was n.
func (f *fixture) pagesFrom(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.pages[n:]...)
}

// login logs name in from a new browser with the password and a code
// from secret (or a recovery code), a TOTP step after the last; the
// browser and the code page's answer.
func (f *fixture) login(name, password, code string) (*browser, int, string) {
	f.t.Helper()
	b := f.browser()
	if _, page := b.post("/login", "name", name, "password", password); !strings.Contains(page, `action="/login/code"`) {
		f.t.Fatalf("login of %s: no code page:\n%s", name, page)
	}
	status, page := b.post("/login/code", "code", code)
	return b, status, page
}

// newMember adds an account, logs it in for the first time (setting up
// TOTP from the page) and changes its password, as a new member of staff
// does.
func (f *fixture) newMember(name string, role staff.Role) *member {
	f.t.Helper()
	first := "amber harbour lanterns glow"
	if _, _, err := f.ss.Add(context.Background(), vouchers.Actor{Name: "admin", Source: "cli"}, staff.NewAccount{Name: name, Role: role, Password: first}); err != nil {
		f.t.Fatal(err)
	}
	m := &member{browser: f.browser(), name: name, password: "seagulls over the old pier"}
	status, page := m.post("/login", "name", name, "password", first)
	if status != http.StatusOK || !strings.Contains(page, "Set up your authenticator app") {
		f.t.Fatalf("login of %s: %d\n%s", name, status, page)
	}
	m.secret = enrolSecret(f.t, page)
	status, page = m.post("/login/enrol", "code", f.code(m.secret))
	if status != http.StatusOK || !strings.Contains(page, `id="recovery-codes"`) {
		f.t.Fatalf("enrolment of %s: %d\n%s", name, status, page)
	}
	m.recovery = recoveryCodes(f.t, page)
	// The must-change-password page comes first, whatever is asked for.
	if _, page = m.get("/"); !strings.Contains(page, "Change your password") {
		f.t.Fatalf("after enrolment %s is not sent to change the password:\n%s", name, page)
	}
	f.clock.Advance(30 * time.Second) // the next TOTP step: a code is good once
	status, page = m.post("/password", "current", first, "code", f.code(m.secret), "new", m.password, "repeat", m.password)
	if status != http.StatusOK || !strings.Contains(page, "Your password is changed") {
		f.t.Fatalf("password change of %s: %d\n%s", name, status, page)
	}
	f.clock.Advance(30 * time.Second)
	return m
}
