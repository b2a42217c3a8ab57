package portal

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"keycard/ca"
	"keycard/internal/store"
	"keycard/portal/profiles"
	"keycard/sessions"
	"keycard/vouchers"
)

const (
	testURL    = "https://wifi.hotel.test/"
	testHost   = "wifi.hotel.test"
	testPass   = "correct horse battery staple"
	guestAddr  = "192.0.2.10:51000"
	otherAddr  = "198.51.100.7:40000"
	maxTries   = 10 // vouchers' lock, above the portal's block (5)
	iPhoneUA   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	androidUA  = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
	windowsUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
	linuxUA    = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	macUA      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	appleCNAUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	androidWV  = "Mozilla/5.0 (Linux; Android 13; SM-S911B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36"
)

// The CA costs key derivations to create: the tests share one.
var sharedCA struct {
	once sync.Once
	dir  string
	a    *ca.Authority
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedCA.dir != "" {
		os.RemoveAll(sharedCA.dir)
	}
	os.Exit(code)
}

func testCA(t testing.TB) *ca.Authority {
	t.Helper()
	sharedCA.once.Do(func() {
		if sharedCA.dir, sharedCA.err = os.MkdirTemp("", "keycard-portal-test-"); sharedCA.err != nil {
			return
		}
		sharedCA.a, sharedCA.err = ca.Init(context.Background(), filepath.Join(sharedCA.dir, "ca"), []byte(testPass), ca.InitOptions{Organization: "Hotel Test"})
	})
	if sharedCA.err != nil {
		t.Fatal(sharedCA.err)
	}
	return sharedCA.a
}

// issuer adapts the CA to vouchers.Issuer, as cmd does.
type issuer struct{ a *ca.Authority }

func (i issuer) IssueDeviceCertificate(ctx context.Context, req vouchers.CertificateRequest) (*x509.Certificate, error) {
	return i.a.IssueDevice(ctx, ca.DeviceRequest{PublicKey: req.PublicKey, CommonName: req.CommonName, URIs: req.URIs, NotAfter: req.NotAfter})
}

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

// syncBuffer collects log lines from handlers on many goroutines.
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

// fakeSessions is the accounting sessions the RFC 8908 API asks.
type fakeSessions map[netip.Addr]sessions.Session

func (f fakeSessions) ByAddress(ip netip.Addr) (sessions.Session, bool) {
	s, ok := f[ip]
	return s, ok
}

// stubSCEP stands in for portal/scep.
var stubSCEP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "scep here") })

type fixture struct {
	t        *testing.T
	a        *ca.Authority
	vs       *vouchers.Store
	p        *Portal
	h        http.Handler
	clock    *fakeClock
	logs     *syncBuffer
	sessions fakeSessions
}

func newFixture(t *testing.T, tweak ...func(*Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	a := testCA(t)
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := vouchers.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, a: a, clock: &fakeClock{t: time.Now().Truncate(time.Second)}, logs: &syncBuffer{}, sessions: fakeSessions{}}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	roots := x509.NewCertPool()
	roots.AddCert(a.Intermediate())
	f.vs, err = vouchers.New(db, vouchers.Options{
		Policies:       map[string]vouchers.Policy{"standard": {}},
		Issuer:         issuer{a},
		Roots:          roots,
		MaxFailedTries: maxTries,
		Now:            f.clock.Now,
		Logger:         log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.vs.Close() })
	cfg := Config{
		URL: testURL,
		Network: profiles.Network{
			SSID: "Hotel Test Secure", ServerName: "radius.hotel.test", RootCA: a.Root(), HotelName: "Hotel Test",
			HelpdeskEmail: "desk@hotel.test", HelpdeskPhone: "+44 20 7946 0000",
			PayloadIdentifier: "test.hotel.wifi", Realm: "hotel.test",
		},
		Chain: a.Chain(),
		SCEP:  true,
	}
	for _, fn := range tweak {
		fn(&cfg)
	}
	f.p, err = New(cfg, Deps{Hotel: f.vs, Sessions: f.sessions, SCEP: stubSCEP, Logger: log, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.h = f.p.Handler()
	return f
}

// stay creates a stay and returns it with its voucher code.
func (f *fixture) stay(guestName string, maxDevices int) (vouchers.Stay, string) {
	f.t.Helper()
	st, code, err := f.vs.CreateStay(context.Background(), vouchers.Actor{Name: "staff:test", Source: "test"}, vouchers.NewStay{
		Room: "204", GuestName: guestName, CheckOut: f.clock.Now().Add(48 * time.Hour), MaxDevices: maxDevices, Policy: "standard",
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return st, code
}

// request is one request to the HTTPS handler.
type request struct {
	method, path string
	form         url.Values
	ua, lang     string
	from         string // RemoteAddr; default guestAddr
	header       map[string]string
}

func (f *fixture) do(rq request) *httptest.ResponseRecorder {
	f.t.Helper()
	return serve(f.h, rq)
}

func serve(h http.Handler, rq request) *httptest.ResponseRecorder {
	var body io.Reader
	if rq.form != nil {
		body = strings.NewReader(rq.form.Encode())
	}
	if rq.path == "" {
		rq.path = "/"
		if rq.form != nil {
			rq.path = "/enrol"
		}
	}
	if rq.method == "" {
		rq.method = http.MethodGet
		if rq.form != nil {
			rq.method = http.MethodPost
		}
	}
	r := httptest.NewRequest(rq.method, testURL[:len(testURL)-1]+rq.path, body)
	r.Host = testHost
	r.RemoteAddr = guestAddr
	if rq.from != "" {
		r.RemoteAddr = rq.from
	}
	if rq.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// What a browser sends with a form posted from the portal's own page.
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set("Origin", "https://"+testHost)
	}
	ua := rq.ua
	if ua == "" {
		ua = androidUA
	}
	r.Header.Set("User-Agent", ua)
	if rq.lang != "" {
		r.Header.Set("Accept-Language", rq.lang)
	}
	for k, v := range rq.header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// enrol posts the sign-in form.
func (f *fixture) enrol(code, platform, ua, from string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.do(request{form: url.Values{"code": {code}, "platform": {platform}, "label": {"test device"}}, ua: ua, from: from})
}

var (
	downloadRE = regexp.MustCompile(`href="(/download/[A-Za-z0-9_-]+)"`)
	passwordRE = regexp.MustCompile(`<p class="password" id="password">([^<]+)</p>`)
	sessionRE  = regexp.MustCompile(`name="session" value="([^"]+)"`)
)

// downloads are the download links of a result page.
func downloads(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	for _, m := range downloadRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func password(body string) string {
	if m := passwordRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

func session(body string) string {
	if m := sessionRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// fetch downloads a file and checks it came.
func (f *fixture) fetch(path string) *httptest.ResponseRecorder {
	f.t.Helper()
	w := f.do(request{path: path})
	if w.Code != http.StatusOK {
		f.t.Fatalf("GET %s = %d\n%s", path, w.Code, w.Body)
	}
	return w
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, code int, what string) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("%s: status %d, want %d\n%s", what, w.Code, code, w.Body)
	}
}

func wantBody(t *testing.T, w *httptest.ResponseRecorder, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(w.Body.String(), p) {
			t.Errorf("page lacks %q\n%s", p, w.Body)
		}
	}
}

func testKey(t *testing.T) crypto.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// serveRequest is a bare GET with the given headers.
func serveRequest(ua, acceptLanguage string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header["User-Agent"] = []string{ua}
	r.Header["Accept-Language"] = []string{acceptLanguage}
	return r
}
