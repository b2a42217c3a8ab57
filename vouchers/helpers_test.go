package vouchers

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"net/url"
	"testing"
	"time"

	"keycard/internal/store"
)

// t0 is "now" at the start of every test: noon on a summer day.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testKDF keeps voucher hashing cheap in tests; the tests of the hashing
// itself put defaultKDF back.
var testKDF = kdfParams{time: 1, memoryKiB: 64, threads: 1}

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// testCA is a throwaway root and intermediate, like package ca makes.
type testCA struct {
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
	serial            int64
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	ca := &testCA{serial: 1000}
	var err error
	ca.rootKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.interKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " Root"},
		NotBefore:             t0.AddDate(-1, 0, 0),
		NotAfter:              t0.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	ca.root = mustCert(t, rootTmpl, rootTmpl, ca.rootKey.Public(), ca.rootKey)
	interTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: name + " Intermediate"},
		NotBefore:             t0.AddDate(-1, 0, 0),
		NotAfter:              t0.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	ca.inter = mustCert(t, interTmpl, ca.root, ca.interKey.Public(), ca.rootKey)
	return ca
}

func mustCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func (ca *testCA) pools() (roots, inters *x509.CertPool) {
	roots, inters = x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.root)
	inters.AddCert(ca.inter)
	return roots, inters
}

// leaf signs a certificate with the intermediate.
func (ca *testCA) leaf(t testing.TB, pub crypto.PublicKey, cn string, uris []*url.URL, notBefore, notAfter time.Time, eku ...x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	ca.serial++
	return mustCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial*7919 + 0xabc000),
		Subject:      pkix.Name{CommonName: cn},
		URIs:         uris,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  eku,
	}, ca.inter, pub, ca.interKey)
}

// fakeIssuer stands in for package ca: NotBefore = now-5m, NotAfter as asked.
type fakeIssuer struct {
	t     testing.TB
	ca    *testCA
	clock *fakeClock
	fail  error
	calls int
	last  CertificateRequest
}

func (f *fakeIssuer) IssueDeviceCertificate(_ context.Context, req CertificateRequest) (*x509.Certificate, error) {
	f.calls++
	f.last = req
	if f.fail != nil {
		return nil, f.fail
	}
	return f.ca.leaf(f.t, req.PublicKey, req.CommonName, req.URIs, f.clock.Now().Add(-5*time.Minute), req.NotAfter,
		x509.ExtKeyUsageClientAuth), nil
}

type fixture struct {
	db     *sql.DB
	s      *Store
	clock  *fakeClock
	ca     *testCA
	issuer *fakeIssuer
	staff  Actor
	guest  Actor
}

var testPolicies = map[string]Policy{
	"standard": {VLAN: 100, BandwidthUpKbps: 5000, BandwidthDownKbps: 20000},
	"premium":  {VLAN: 200},
}

func newFixture(t testing.TB, tweak ...func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, clock: &fakeClock{t: t0}, ca: newTestCA(t, "Keycard Test"),
		staff: Actor{Name: "staff:alice", Source: "cli"}, guest: Actor{Name: "guest", Source: "10.0.0.5"}}
	f.issuer = &fakeIssuer{t: t, ca: f.ca, clock: f.clock}
	roots, inters := f.ca.pools()
	opts := Options{
		Policies: testPolicies, Issuer: f.issuer, Roots: roots, Intermediates: inters,
		Now: f.clock.Now, Rand: mrand.NewChaCha8([32]byte{7}),
	}
	for _, fn := range tweak {
		fn(&opts)
	}
	if f.s, err = New(db, opts); err != nil {
		t.Fatal(err)
	}
	f.s.kdf = testKDF
	return f
}

func (f *fixture) stay(t testing.TB, req NewStay) (Stay, string) {
	t.Helper()
	if req.Room == "" {
		req.Room = "101"
	}
	if req.GuestName == "" {
		req.GuestName = "Ada Lovelace"
	}
	if req.CheckOut.IsZero() {
		req.CheckOut = f.clock.Now().Add(48 * time.Hour)
	}
	if req.MaxDevices == 0 {
		req.MaxDevices = 3
	}
	if req.Policy == "" {
		req.Policy = "standard"
	}
	st, code, err := f.s.CreateStay(context.Background(), f.staff, req)
	if err != nil {
		t.Fatalf("CreateStay: %v", err)
	}
	return st, code
}

func newKey(t testing.TB) crypto.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

func (f *fixture) redeem(t testing.TB, code string) (Device, *x509.Certificate) {
	t.Helper()
	d, cert, err := f.s.Redeem(context.Background(), f.guest, code, Enrolment{PublicKey: newKey(t), Platform: "ios", Label: "phone"})
	if err != nil {
		t.Fatalf("Redeem: %v", err)
	}
	return d, cert
}

// counts is the number of rows in each table plus the audit head.
type counts struct{ stays, vouchers, devices, audit, head int64 }

func (f *fixture) counts(t testing.TB) counts {
	t.Helper()
	var c counts
	for _, q := range []struct {
		sql string
		dst *int64
	}{
		{`SELECT COUNT(*) FROM stays`, &c.stays},
		{`SELECT COUNT(*) FROM vouchers`, &c.vouchers},
		{`SELECT COUNT(*) FROM devices`, &c.devices},
		{`SELECT COUNT(*) FROM audit_log`, &c.audit},
		{`SELECT last_id FROM audit_head`, &c.head},
	} {
		if err := f.db.QueryRow(q.sql).Scan(q.dst); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// reissue signs, with ca's intermediate, a certificate with cert's serial,
// subject, URIs, key and NotBefore, ending at notAfter with the usages
// given: a look-alike of a device's certificate.
func (ca *testCA) reissue(t testing.TB, cert *x509.Certificate, notAfter time.Time, eku ...x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	return mustCert(t, &x509.Certificate{
		SerialNumber: cert.SerialNumber,
		Subject:      cert.Subject,
		URIs:         cert.URIs,
		NotBefore:    cert.NotBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  eku,
	}, ca.inter, cert.PublicKey, ca.interKey)
}
