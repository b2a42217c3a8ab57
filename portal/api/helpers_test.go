package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"keycard/internal/store"
	"keycard/sessions"
	"keycard/staff"
	"keycard/vouchers"
)

// t0 is "now" at the start of every test.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

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

// fakeIssuer signs device certificates with a throwaway CA.
type fakeIssuer struct {
	key    *ecdsa.PrivateKey
	ca     *x509.Certificate
	mu     sync.Mutex
	serial int64
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: t0.AddDate(-1, 0, 0), NotAfter: t0.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeIssuer{key: key, ca: ca, serial: 1000}
}

func (f *fakeIssuer) IssueDeviceCertificate(_ context.Context, req vouchers.CertificateRequest) (*x509.Certificate, error) {
	f.mu.Lock()
	f.serial++
	serial := f.serial
	f.mu.Unlock()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: req.CommonName},
		URIs: req.URIs, NotBefore: t0.Add(-time.Minute), NotAfter: req.NotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.ca, req.PublicKey, f.key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// fakeKicker records kicks and answers with outcome (or err).
type fakeKicker struct {
	mu      sync.Mutex
	kicked  []int64
	reasons []string
	outcome string
	err     error
}

func (k *fakeKicker) Kick(_ context.Context, s sessions.Session, reason string) (KickResult, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.kicked = append(k.kicked, s.ID)
	k.reasons = append(k.reasons, reason)
	if k.err != nil {
		return KickResult{Outcome: "no_answer", Attempts: 4}, k.err
	}
	return KickResult{Outcome: k.outcome, Attempts: 1}, nil
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	db       *sql.DB
	clock    *fakeClock
	hotel    *vouchers.Store
	staff    *staff.Store
	sessions *sessions.Store
	kicker   *fakeKicker
	h        http.Handler
	logs     *syncBuffer
	doc      *openapi3.T
	router   routers.Router
	tokens   map[string]string // name -> token text
}

var admin = vouchers.Actor{Name: "admin:root", Source: "cli"}

// newFixture is the API on a real SQLite file with real stores, tokens
// "pms" (every scope), "reader" (read), "desk" (stays only), "devices",
// "sessions", and "gone" (revoked).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "keycard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, m := range []func(context.Context, *sql.DB) error{vouchers.Migrate, sessions.Migrate, staff.Migrate, Migrate} {
		if err := m(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	if err := Check(ctx, db); err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, clock: &fakeClock{t: t0}, kicker: &fakeKicker{outcome: "ack"}, logs: &syncBuffer{}, tokens: map[string]string{}}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if f.hotel, err = vouchers.New(db, vouchers.Options{
		Policies: map[string]vouchers.Policy{"standard": {VLAN: 100}, "premium": {VLAN: 200}},
		Issuer:   newFakeIssuer(t), Now: f.clock.Now, Logger: log,
	}); err != nil {
		t.Fatal(err)
	}
	if f.staff, err = staff.New(db, staff.Options{Audit: f.hotel, Now: f.clock.Now, Logger: log}); err != nil {
		t.Fatal(err)
	}
	if f.sessions, err = sessions.New(ctx, db, sessions.Options{Now: f.clock.Now, Logger: log}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.sessions.Close() })
	for name, scopes := range map[string][]staff.Scope{
		"pms":      staff.Scopes(),
		"reader":   {staff.ScopeRead},
		"desk":     {staff.ScopeStays},
		"devices":  {staff.ScopeDevices},
		"sessions": {staff.ScopeSessions},
		"gone":     staff.Scopes(),
	} {
		_, text, err := f.staff.AddToken(ctx, admin, name, scopes)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[name] = text
	}
	if _, err := f.staff.RevokeToken(ctx, admin, "gone"); err != nil {
		t.Fatal(err)
	}
	if f.h, err = New(Options{Tokens: f.staff, Hotel: f.hotel, Sessions: f.sessions, Kicker: f.kicker, DB: db,
		Now: f.clock.Now, Logger: log}); err != nil {
		t.Fatal(err)
	}
	f.doc, f.router = loadDoc(t)
	return f
}

// loadDoc loads and validates openapi.yaml as OpenAPI 3.1.
func loadDoc(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi.yaml is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml is not valid: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return doc, router
}

// exchange is one request and its answer, checked against openapi.yaml.
type exchange struct {
	status int
	header http.Header
	body   []byte
	// reqErr is what openapi.yaml says about the request (nil: valid);
	// tests that send invalid input check it is not nil.
	reqErr error
}

func (e *exchange) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(e.body, v); err != nil {
		t.Fatalf("answer %d is not JSON: %v\n%s", e.status, err, e.body)
	}
}

func (e *exchange) problem(t *testing.T, status int, kind string) Problem {
	t.Helper()
	if e.status != status {
		t.Fatalf("status = %d, want %d\n%s", e.status, status, e.body)
	}
	if ct := e.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p Problem
	e.json(t, &p)
	if p.Type != ProblemTypePrefix+kind || p.Status != status || p.Title == "" {
		t.Fatalf("problem = %+v, want type %s%s, status %d, a title", p, ProblemTypePrefix, kind, status)
	}
	return p
}

// req describes a request for do.
type req struct {
	method, path string
	token        string // a name in f.tokens, "" for none, or "raw:TEXT"
	body         string
	header       map[string]string
	remote       string
}

// do sends r to the handler, then validates the request and the answer
// against openapi.yaml: an answer the document does not describe fails the
// test. A request to a route the document lacks must be a 404 or 405
// problem (or a 400 for a token in its URL).
func (f *fixture) do(t *testing.T, r req) *exchange {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, "http://desk.example"+r.path, body)
	hr.RemoteAddr = "192.0.2.10:40000"
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.HasPrefix(r.token, "raw:"):
		hr.Header.Set("Authorization", strings.TrimPrefix(r.token, "raw:"))
	case r.token != "":
		text, ok := f.tokens[r.token]
		if !ok {
			t.Fatalf("no token %q", r.token)
		}
		hr.Header.Set("Authorization", "Bearer "+text)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, hr)
	ex := &exchange{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}

	// The request as the document sees it (a fresh copy with the body).
	vr := httptest.NewRequest(r.method, "http://desk.example"+r.path, strings.NewReader(r.body))
	vr.Header = hr.Header.Clone()
	route, params, err := f.router.FindRoute(vr)
	if err != nil {
		if ex.status != http.StatusNotFound && ex.status != http.StatusMethodNotAllowed && ex.status != http.StatusBadRequest {
			t.Fatalf("%s %s is not in openapi.yaml (%v) but answered %d", r.method, r.path, err, ex.status)
		}
		if ct := ex.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("%s %s: undocumented route answered %q, want a problem", r.method, r.path, ct)
		}
		ex.reqErr = err
		return ex
	}
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	ex.reqErr = openapi3filter.ValidateRequest(context.Background(), in)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: ex.status, Header: ex.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(ex.body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("%s %s answered %d, which openapi.yaml does not describe: %v\n%s", r.method, r.path, ex.status, err, ex.body)
	}
	return ex
}

// auditRows returns the audit log, oldest first.
func (f *fixture) auditRows(t *testing.T) []vouchers.AuditEntry {
	t.Helper()
	rows, err := f.hotel.AuditLog(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}

// noSecrets fails when s holds a token's text.
func (f *fixture) noSecrets(t *testing.T, where, s string) {
	t.Helper()
	for name, text := range f.tokens {
		if strings.Contains(s, text) {
			t.Fatalf("%s contains the %s token", where, name)
		}
	}
}

func newKey(t *testing.T) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}
