package desk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"keycard/internal/loadgen"
	"keycard/internal/store"
	"keycard/portal/api"
	"keycard/radiusd"
	"keycard/radiusd/radiustest"
	"keycard/sessions"
	"keycard/staff"
	"keycard/vouchers"
)

// BenchmarkCheckoutRush is issue 8's performance goal: the front desk at
// check-out rush. 50 members of staff, logged in (through the staff
// domain, with TOTP set up and the first password changed; their requests
// carry the real session cookie), and the PMS with its API token send
// rushRate requests/s for rushFor through the real desk handler (the API
// mounted at /api/v1) over loopback TLS, on real stores in one SQLite
// file: desk stay list, search and detail pages, API stay list, stay and
// sessions reads, and stay changes (API create with Idempotency-Key,
// extend, end; desk end by its POST). Meanwhile the same process serves
// RADIUS on loopback UDP to rushRADIUSDevices EAP-TLS devices.
//
// The load is open-loop: request i is due at start + i/rushRate whether or
// not earlier ones were answered, and its latency counts from when it was
// due, so a server that falls behind shows its queue (no coordinated
// omission). p50-ms, p99-ms, max-ms are of every request; errors counts
// transport errors and 4xx/5xx answers.
func BenchmarkCheckoutRush(b *testing.B) {
	const (
		members  = 50
		rushRate = 200
		rushFor  = 10 * time.Second
		seeded   = 600 // stays in house at the start
	)
	ctx := context.Background()
	var p50s, p99s, maxs []time.Duration
	var rates []float64
	errs := 0
	var rad loadgen.Report
	for b.Loop() {
		b.StopTimer()
		r := newRush(b, members, seeded)
		load := startRADIUS(b, rushRADIUSDevices)
		total := int(rushRate * rushFor / time.Second)
		took := make([]time.Duration, total)
		var failed atomic.Int64
		var firstErr atomic.Pointer[string]
		var wg sync.WaitGroup
		b.StartTimer()
		start := time.Now()
		for i := range total {
			due := start.Add(time.Duration(i) * time.Second / rushRate)
			time.Sleep(time.Until(due))
			wg.Go(func() {
				if err := r.request(ctx, i); err != nil {
					failed.Add(1)
					msg := fmt.Sprintf("request %d: %v", i, err)
					firstErr.CompareAndSwap(nil, &msg)
				}
				took[i] = time.Since(due)
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		rad = addReports(rad, load.stop(b))
		r.close()
		if n := failed.Load(); n > 0 {
			b.Logf("%d of %d requests failed; first: %s", n, total, *firstErr.Load())
		}
		errs += int(failed.Load())
		slices.Sort(took)
		p50s = append(p50s, took[total/2-1])
		p99s = append(p99s, took[total*99/100-1])
		maxs = append(maxs, took[total-1])
		rates = append(rates, float64(total)/elapsed.Seconds())
		b.StartTimer()
	}
	slices.Sort(rates)
	b.ReportMetric(rates[len(rates)/2], "req/s")
	b.ReportMetric(msOf(median(p50s)), "p50-ms")
	b.ReportMetric(msOf(median(p99s)), "p99-ms")
	b.ReportMetric(msOf(median(maxs)), "max-ms")
	b.ReportMetric(float64(errs), "errors")
	reportRADIUS(b, rad)
}

// rushRADIUSDevices is bench/run.sh's default concurrency: "RADIUS carries
// its benchmark load". The devices' supplicants run in this process too,
// so they take about as much CPU as the server's side of the handshakes.
const rushRADIUSDevices = 8

// rush is the desk, the API behind it, and who calls them.
type rush struct {
	db       *sql.DB
	vs       *vouchers.Store
	ss       *sessions.Store
	srv      *httptest.Server
	client   *http.Client
	cookies  []string // the staff's session tokens
	token    string   // the PMS's API token
	stays    []int64  // seeded, in house
	ends     atomic.Int64
	checkOut time.Time
}

func newRush(b *testing.B, members, seeded int) *rush {
	b.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "keycard.db"))
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []func(context.Context, *sql.DB) error{vouchers.Migrate, sessions.Migrate, staff.Migrate, api.Migrate} {
		if err := m(ctx, db); err != nil {
			b.Fatal(err)
		}
	}
	clock := &fakeClock{t: t0}
	log := slog.New(slog.DiscardHandler)
	r := &rush{db: db, checkOut: t0.Add(48 * time.Hour)}
	if r.vs, err = vouchers.New(db, vouchers.Options{Policies: map[string]vouchers.Policy{"standard": {}}, Now: clock.Now, Logger: log}); err != nil {
		b.Fatal(err)
	}
	st, err := staff.New(db, staff.Options{Audit: r.vs, Box: testBox(), Now: clock.Now, Logger: log, Location: time.UTC,
		Password: staff.PasswordParams{Memory: 64, Time: 1, Threads: 1}}) // logins are set-up, not measured
	if err != nil {
		b.Fatal(err)
	}
	if r.ss, err = sessions.New(ctx, db, sessions.Options{Now: clock.Now, Logger: log}); err != nil {
		b.Fatal(err)
	}
	admin := vouchers.Actor{Name: "admin", Source: "cli"}
	for i := range seeded {
		s, _, err := r.vs.CreateStay(ctx, admin, vouchers.NewStay{Room: strconv.Itoa(100 + i), GuestName: fmt.Sprintf("Guest %03d", i),
			CheckOut: r.checkOut, MaxDevices: 4, Policy: "standard"})
		if err != nil {
			b.Fatal(err)
		}
		r.stays = append(r.stays, s.ID)
	}
	// Each member logs in for the first time as the desk would have them:
	// password, TOTP set up, password changed (a TOTP step later).
	const first, second = "amber harbour lanterns glow", "seagulls over the old pier"
	secrets := make([]string, members)
	pending := make([]string, members)
	for i := range members {
		name := fmt.Sprintf("desk%02d", i)
		if _, _, err := st.Add(ctx, admin, staff.NewAccount{Name: name, Role: staff.RoleFrontDesk, Password: first}); err != nil {
			b.Fatal(err)
		}
		p, err := st.Login(ctx, name, first, "127.0.0.1")
		if err != nil {
			b.Fatal(err)
		}
		e, err := st.BeginEnrolment(ctx, p.Token)
		if err != nil {
			b.Fatal(err)
		}
		secrets[i], pending[i] = e.Secret, p.Token
	}
	code := func(secret string) string {
		c, err := totp.GenerateCode(secret, clock.Now())
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	logins := make([]string, members)
	for i := range members {
		li, err := st.ConfirmEnrolment(ctx, pending[i], code(secrets[i]), "127.0.0.1")
		if err != nil {
			b.Fatal(err)
		}
		logins[i] = li.Token
	}
	clock.Advance(30 * time.Second) // a code is good once
	for i := range members {
		li, err := st.ChangePassword(ctx, logins[i], first, code(secrets[i]), second, "127.0.0.1")
		if err != nil {
			b.Fatal(err)
		}
		r.cookies = append(r.cookies, li.Token)
	}
	if _, r.token, err = st.AddToken(ctx, admin, "pms", staff.Scopes()); err != nil {
		b.Fatal(err)
	}
	kicker := api.KickerFunc(func(context.Context, sessions.Session, string) (api.KickResult, error) {
		return api.KickResult{Outcome: "ack", Attempts: 1}, nil
	})
	h, err := api.New(api.Options{Tokens: st, Hotel: r.vs, Sessions: r.ss, Kicker: kicker, DB: db, Now: clock.Now, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(Config{URL: "https://desk.hotel.test/", PortalURL: portalURL, HotelName: "Grand Harbour", SSID: "Harbour Guest",
		Policies: []string{"standard"}, Location: time.UTC},
		Deps{Staff: st, Hotel: r.vs, Sessions: r.ss, API: h, Logger: log, Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	r.srv = httptest.NewTLSServer(d.Handler())
	tr := r.srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = members + 1 // each browser, and the PMS, keeps its connection
	r.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return r
}

func (r *rush) close() {
	r.client.CloseIdleConnections()
	r.srv.Close()
	r.ss.Close()
	r.vs.Close()
	r.db.Close()
}

// request sends the i-th request of the mix: 11 in 20 reads by staff or
// the PMS... see the switch. Staff take turns by i.
func (r *rush) request(ctx context.Context, i int) error {
	stay := func() string { return strconv.FormatInt(r.stays[i%len(r.stays)], 10) }
	// Each end takes the next seeded stay from the top, each extend a stay
	// from the bottom, so that neither finds the stay already ended.
	ended := func() string {
		n := int(r.ends.Add(1))
		return strconv.FormatInt(r.stays[len(r.stays)-n], 10)
	}
	extended := func() string { return strconv.FormatInt(r.stays[(i/20)%(len(r.stays)/2)], 10) }
	desk := func(method, path string, form url.Values) error {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, r.srv.URL+path, body)
		if err != nil {
			return err
		}
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: r.cookies[i%len(r.cookies)]})
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return r.send(req, http.StatusOK, http.StatusSeeOther)
	}
	pms := func(method, path, body string, header ...string) error {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, r.srv.URL+"/api/v1"+path, rd)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+r.token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for j := 0; j+1 < len(header); j += 2 {
			req.Header.Set(header[j], header[j+1])
		}
		return r.send(req, http.StatusOK, http.StatusCreated)
	}
	switch i % 20 {
	case 0, 1, 2, 3:
		return desk("GET", "/", nil)
	case 4, 5:
		return desk("GET", "/?q="+url.QueryEscape(fmt.Sprintf("Guest %03d", i%len(r.stays))), nil)
	case 6, 7, 8:
		return desk("GET", "/stays/"+stay(), nil)
	case 9, 10, 11:
		return pms("GET", "/stays", "")
	case 12, 13:
		return pms("GET", "/stays/"+stay(), "")
	case 14:
		return pms("GET", "/sessions", "")
	case 15, 16:
		body := fmt.Sprintf(`{"external_id":"RES-%d","room":"%d","guest_name":"Walk-in %d","check_out":%q}`,
			i, 900+i%100, i, r.checkOut.Format(time.RFC3339))
		return pms("POST", "/stays", body, "Idempotency-Key", "create-"+strconv.Itoa(i))
	case 17:
		co := r.checkOut.Add(24*time.Hour + time.Duration(i)*time.Minute)
		return pms("POST", "/stays/"+extended()+"/extend", fmt.Sprintf(`{"check_out":%q}`, co.Format(time.RFC3339)))
	case 18:
		return pms("POST", "/stays/"+ended()+"/end", "")
	default:
		return desk("POST", "/stays/"+ended()+"/end", url.Values{})
	}
}

func (r *rush) send(req *http.Request, ok ...int) error {
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if !slices.Contains(ok, resp.StatusCode) {
		return fmt.Errorf("%s %s: status %d: %.200s", req.Method, req.URL.Path, resp.StatusCode, data)
	}
	return nil
}

// radiusLoad is a radiusd.Server on loopback UDP and loadgen's devices
// authenticating against it (full TLS 1.3 handshakes) until stop.
type radiusLoad struct {
	cancel, stopServer context.CancelFunc
	report             chan loadgen.Report
	served             chan error
}

func startRADIUS(b *testing.B, devices int) *radiusLoad {
	b.Helper()
	now := time.Now()
	pki := radiustest.NewPKI(b, now)
	secret := []byte("coach-shared-secret")
	s, err := radiusd.New(radiusd.Config{AuthListen: []string{"127.0.0.1:0"}, RejectDelay: -1}, radiusd.Deps{
		NAS:               radiustest.NASList{{Name: "ap-lobby", Network: netip.MustParsePrefix("127.0.0.1/32"), Secret: secret}},
		Authorizer:        &radiustest.Authorizer{},
		ServerCertificate: pki.Server,
		ClientCAs:         pki.Roots,
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	sctx, stopServer := context.WithCancel(context.Background())
	if err := s.Listen(sctx); err != nil {
		b.Fatal(err)
	}
	l := &radiusLoad{stopServer: stopServer, report: make(chan loadgen.Report, 1), served: make(chan error, 1)}
	go func() { l.served <- s.ListenAndServe(sctx) }()
	lctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	cert := pki.Issue(b, "device-1", now, now.Add(6*time.Hour), x509.ExtKeyUsageClientAuth)
	opts := loadgen.Options{Server: s.Addrs()[0].String(), Secret: secret, Concurrency: devices,
		Duration:   2 * time.Minute, // a bound, should stop never come
		TLSVersion: tls.VersionTLS13, Certificate: cert, RootCAs: pki.Roots, ServerName: "radius.keycard.test"}
	go func() {
		rep, err := loadgen.Run(lctx, opts)
		if err != nil {
			b.Errorf("loadgen: %v", err)
		}
		l.report <- rep
	}()
	time.Sleep(300 * time.Millisecond) // the devices are mid-handshake when the load under test starts
	return l
}

// stop ends the devices' run and the server, and returns what the devices
// saw; authentications cut short by the stop are not failures.
func (l *radiusLoad) stop(b *testing.B) loadgen.Report {
	b.Helper()
	l.cancel()
	rep := <-l.report
	delete(rep.Failures, loadgen.CauseCancelled)
	l.stopServer()
	if err := <-l.served; err != nil {
		b.Errorf("radiusd: %v", err)
	}
	return rep
}

func addReports(a, b loadgen.Report) loadgen.Report {
	a.Auths += b.Auths
	a.Retransmits += b.Retransmits
	a.Elapsed += b.Elapsed
	a.P99 = max(a.P99, b.P99)
	if a.Failures == nil {
		a.Failures = map[loadgen.Cause]int{}
	}
	for c, n := range b.Failures {
		a.Failures[c] += n
	}
	if a.FirstError == "" {
		a.FirstError = b.FirstError
	}
	return a
}

func reportRADIUS(b *testing.B, r loadgen.Report) {
	b.ReportMetric(float64(r.Auths)/r.Elapsed.Seconds(), "radius-auths/s")
	b.ReportMetric(msOf(r.P99), "radius-p99-ms")
	b.ReportMetric(float64(r.Failures[loadgen.CauseTimeout]), "radius-timeouts")
	b.ReportMetric(float64(r.FailureCount()), "radius-failures")
	b.ReportMetric(float64(r.Retransmits), "radius-retransmits")
	if r.FailureCount() > 0 {
		b.Logf("RADIUS failures %v; first: %s", r.Failures, r.FirstError)
	}
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
