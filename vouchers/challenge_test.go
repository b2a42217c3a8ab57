package vouchers

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"keycard/internal/store"
)

// rsa2048 is made once: RSA key generation is slow and these tests only
// need a key Apple's SCEP client would make.
var rsa2048 = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// deviceCSR is the CSR a device sends, signed with key.
func deviceCSR(t testing.TB, key crypto.Signer) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "iPhone"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func p256CSR(t testing.TB) *x509.CertificateRequest {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return deviceCSR(t, k)
}

func (f *fixture) mint(t testing.TB, stayID int64, lifetime time.Duration) string {
	t.Helper()
	c, _, err := f.s.MintEnrolChallenge(context.Background(), f.guest, stayID, "ios", "Ada's iPhone", lifetime)
	if err != nil {
		t.Fatalf("MintEnrolChallenge: %v", err)
	}
	return c
}

// challengeRow is what the database holds of a challenge.
type challengeRow struct {
	hash               string
	stayID             int64
	createdAt, expires int64
	used, deviceID     sql.NullInt64
	platform, label    string
}

func (f *fixture) challenges(t testing.TB) []challengeRow {
	t.Helper()
	rows, err := f.db.Query(`SELECT hash, stay_id, platform, label, created_at, expires_at, used_at, device_id FROM enrol_challenges ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []challengeRow
	for rows.Next() {
		var r challengeRow
		if err := rows.Scan(&r.hash, &r.stayID, &r.platform, &r.label, &r.createdAt, &r.expires, &r.used, &r.deviceID); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMintEnrolChallenge(t *testing.T) {
	f := newFixture(t)
	st, _ := f.stay(t, NewStay{})
	ctx := context.Background()

	c, expires, err := f.s.MintEnrolChallenge(ctx, f.guest, st.ID, " ios ", " Ada's iPhone ", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// 160 random bits in 32 characters a SCEP client can carry as a
	// PrintableString and a URL can carry unescaped.
	if len(c) != 32 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Errorf("challenge %q: want 32 characters of base32", c)
	}
	if !expires.Equal(t0.Add(10*time.Minute)) || expires.Location() != time.UTC {
		t.Errorf("expires %v, want %v UTC", expires, t0.Add(10*time.Minute))
	}
	if other := f.mint(t, st.ID, 0); other == c {
		t.Error("two challenges are the same")
	}

	rows := f.challenges(t)
	if len(rows) != 2 {
		t.Fatalf("%d challenge rows, want 2", len(rows))
	}
	r := rows[0]
	if r.hash != challengeHash(c) || r.stayID != st.ID || r.platform != "ios" || r.label != "Ada's iPhone" ||
		r.expires != dbTime(expires) || r.createdAt != dbTime(t0) || r.used.Valid || r.deviceID.Valid {
		t.Errorf("row %+v", r)
	}
	if got := rows[1].expires; got != dbTime(t0.Add(DefaultChallengeLifetime)) {
		t.Errorf("lifetime 0 gave expiry %v, want the default %s", fromDB(got), DefaultChallengeLifetime)
	}

	// The secret is nowhere in the database: not in the challenge table,
	// not in the audit log, which records the mint.
	var dump string
	if err := f.db.QueryRow(`SELECT group_concat(hash || platform || label, '|') FROM enrol_challenges`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, c) {
		t.Error("the challenge is stored in clear")
	}
	log, err := f.s.AuditLog(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var mints int
	for _, e := range log {
		if strings.Contains(e.Detail, c) || strings.Contains(e.Detail, challengeHash(c)) {
			t.Errorf("audit entry %d holds the challenge or its hash: %s", e.ID, e.Detail)
		}
		if e.Action == "challenge.mint" {
			mints++
			if e.Subject != stayRef(st.ID) || e.Actor != "guest" || e.Source != "10.0.0.5" {
				t.Errorf("mint entry %+v", e)
			}
		}
	}
	if mints != 2 {
		t.Errorf("%d challenge.mint entries, want 2", mints)
	}
	if err := f.s.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
}

func TestMintEnrolChallengeRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		setup    func(t *testing.T, f *fixture) int64 // returns the stay
		by       Actor
		label    string
		lifetime time.Duration
		want     error
	}{
		{"unknown stay", func(t *testing.T, f *fixture) int64 { return 999 }, Actor{}, "", 0, ErrUnknownStay},
		{"stay ended by staff", func(t *testing.T, f *fixture) int64 {
			st, _ := f.stay(t, NewStay{})
			if _, err := f.s.EndStay(ctx, f.staff, st.ID); err != nil {
				t.Fatal(err)
			}
			return st.ID
		}, Actor{}, "", 0, ErrStayEnded},
		{"checked out", func(t *testing.T, f *fixture) int64 {
			st, _ := f.stay(t, NewStay{CheckOut: t0.Add(time.Hour)})
			f.clock.Advance(time.Hour)
			return st.ID
		}, Actor{}, "", 0, ErrStayEnded},
		{"at the device cap", func(t *testing.T, f *fixture) int64 {
			st, code := f.stay(t, NewStay{MaxDevices: 1})
			f.redeem(t, code)
			return st.ID
		}, Actor{}, "", 0, ErrDeviceCap},
		{"lifetime over 30 minutes", nil, Actor{}, "", 31 * time.Minute, ErrInvalid},
		{"negative lifetime", nil, Actor{}, "", -time.Minute, ErrInvalid},
		{"label with a newline", nil, Actor{}, "phone\nX", 0, ErrInvalid},
		{"label too long", nil, Actor{}, strings.Repeat("x", 65), 0, ErrInvalid},
		{"no actor", nil, Actor{Name: "", Source: "10.0.0.5"}, "", 0, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			var stayID int64
			if tt.setup != nil {
				stayID = tt.setup(t, f)
			} else {
				st, _ := f.stay(t, NewStay{})
				stayID = st.ID
			}
			by := f.guest
			if tt.name == "no actor" {
				by = tt.by
			}
			before := f.counts(t)
			c, _, err := f.s.MintEnrolChallenge(ctx, by, stayID, "ios", tt.label, tt.lifetime)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if c != "" {
				t.Errorf("returned challenge %q with the error", c)
			}
			if got := f.challenges(t); len(got) != 0 {
				t.Errorf("%d challenge rows written", len(got))
			}
			if after := f.counts(t); after != before {
				t.Errorf("rows changed: %+v -> %+v", before, after)
			}
		})
	}
	// 30 minutes is allowed.
	f := newFixture(t)
	st, _ := f.stay(t, NewStay{})
	f.mint(t, st.ID, MaxChallengeLifetime)
}

func TestEnrolWithChallenge(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, _ := f.stay(t, NewStay{})
	c := f.mint(t, st.ID, 5*time.Minute)
	f.clock.Advance(4 * time.Minute) // the guest installs the profile

	// Apple's SCEP client makes an RSA 2048 key.
	key := rsa2048()
	d, cert, err := f.s.EnrolWithChallenge(ctx, Actor{Name: "guest", Source: "10.0.0.9"}, c, deviceCSR(t, key))
	if err != nil {
		t.Fatal(err)
	}
	if d.StayID != st.ID || d.Platform != "ios" || d.Label != "Ada's iPhone" || d.Serial != SerialHex(cert) {
		t.Errorf("device %+v", d)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Error("the certificate is not for the device's key")
	}
	if !cert.NotAfter.Equal(st.CheckOut) {
		t.Errorf("NotAfter %v, want the check-out %v", cert.NotAfter, st.CheckOut)
	}
	if got, err := f.s.Device(ctx, d.ID); err != nil || got.Serial != d.Serial {
		t.Errorf("Device(%d) = %+v, %v", d.ID, got, err)
	}
	// The certificate gets on the network.
	if dec, err := f.s.Authorize(ctx, cert, f.clock.Now()); err != nil || !dec.Allowed {
		t.Errorf("Authorize: %v, %v", dec.Reason, err)
	}

	rows := f.challenges(t)
	if len(rows) != 1 || !rows[0].used.Valid || rows[0].used.Int64 != dbTime(f.clock.Now()) || rows[0].deviceID.Int64 != d.ID {
		t.Errorf("challenge row after use: %+v", rows)
	}
	log, err := f.s.AuditLog(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if e := log[0]; e.Action != "device.enrol" || e.Subject != deviceRef(d.ID) || e.Source != "10.0.0.9" ||
		!strings.Contains(e.Detail, "via=challenge:1 ") {
		t.Errorf("last audit entry %+v, want the enrolment via challenge:1", e)
	}
	if err := f.s.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}

	// Once only.
	before := f.counts(t)
	_, _, err = f.s.EnrolWithChallenge(ctx, f.guest, c, deviceCSR(t, key))
	wantErr(t, err, ErrChallengeUsed)
	if after := f.counts(t); after != before {
		t.Errorf("a refused reuse changed rows: %+v -> %+v", before, after)
	}
}

func TestEnrolWithChallengeRefuses(t *testing.T) {
	ctx := context.Background()
	bad := p256CSR(t)
	bad.Signature = append([]byte(nil), bad.Signature...)
	bad.Signature[3] ^= 0x40
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		// before runs after the mint and returns the challenge to send.
		before   func(t *testing.T, f *fixture, st Stay, c string) string
		csr      *x509.CertificateRequest
		want     error
		unused   bool // the challenge is still usable afterwards
		noRecord bool // no challenge row at all (nothing minted matched)
	}{
		{"expired", func(t *testing.T, f *fixture, st Stay, c string) string {
			f.clock.Advance(5 * time.Minute) // exactly its lifetime
			return c
		}, nil, ErrChallengeExpired, false, false},
		{"unknown", func(t *testing.T, f *fixture, st Stay, c string) string {
			return strings.Repeat("A", 32)
		}, nil, ErrUnknownChallenge, true, false},
		{"one character off", func(t *testing.T, f *fixture, st Stay, c string) string {
			b := []byte(c)
			b[len(b)-1] = map[bool]byte{true: 'B', false: 'A'}[b[len(b)-1] == 'A']
			return string(b)
		}, nil, ErrUnknownChallenge, true, false},
		{"lower case", func(t *testing.T, f *fixture, st Stay, c string) string {
			return strings.ToLower(c)
		}, nil, ErrUnknownChallenge, true, false},
		{"empty", func(t *testing.T, f *fixture, st Stay, c string) string { return "" }, nil, ErrUnknownChallenge, true, false},
		{"a voucher code", func(t *testing.T, f *fixture, st Stay, c string) string {
			return "K7QX-M4TR-9PCW"
		}, nil, ErrUnknownChallenge, true, false},
		{"tampered CSR", nil, bad, ErrInvalid, true, false},
		{"RSA 1024 CSR", nil, deviceCSR(t, weak), ErrInvalid, true, false},
		{"stay ended after the mint", func(t *testing.T, f *fixture, st Stay, c string) string {
			if _, err := f.s.EndStay(ctx, f.staff, st.ID); err != nil {
				t.Fatal(err)
			}
			return c
		}, nil, ErrStayEnded, true, false},
		{"cap reached after the mint", func(t *testing.T, f *fixture, st Stay, c string) string {
			for range st.MaxDevices {
				if _, _, err := f.s.EnrolDevice(ctx, f.staff, st.ID, Enrolment{PublicKey: newKey(t)}); err != nil {
					t.Fatal(err)
				}
			}
			return c
		}, nil, ErrDeviceCap, true, false},
		{"issuer fails", func(t *testing.T, f *fixture, st Stay, c string) string {
			f.issuer.fail = errors.New("HSM unplugged")
			return c
		}, nil, nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			st, _ := f.stay(t, NewStay{MaxDevices: 2})
			c := f.mint(t, st.ID, 5*time.Minute)
			send := c
			if tt.before != nil {
				send = tt.before(t, f, st, c)
			}
			csr := tt.csr
			if csr == nil {
				csr = p256CSR(t)
			}
			before := f.counts(t)
			d, cert, err := f.s.EnrolWithChallenge(ctx, f.guest, send, csr)
			switch {
			case err == nil:
				t.Fatalf("enrolled device %d", d.ID)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if cert != nil || d.ID != 0 {
				t.Errorf("returned %+v, %v with the error", d, cert)
			}
			if after := f.counts(t); after != before {
				t.Errorf("rows changed: %+v -> %+v", before, after)
			}
			if rows := f.challenges(t); len(rows) != 1 || rows[0].used.Valid {
				t.Errorf("challenge rows %+v, want the one minted, unused", rows)
			}
			if tt.unused {
				// Whatever stood in the way gone, the real challenge still works.
				f.issuer.fail = nil
				if tt.name == "stay ended after the mint" || tt.name == "cap reached after the mint" {
					return
				}
				if _, _, err := f.s.EnrolWithChallenge(ctx, f.guest, c, p256CSR(t)); err != nil {
					t.Errorf("the challenge no longer works: %v", err)
				}
			}
		})
	}
	t.Run("nil CSR", func(t *testing.T) {
		f := newFixture(t)
		st, _ := f.stay(t, NewStay{})
		_, _, err := f.s.EnrolWithChallenge(ctx, f.guest, f.mint(t, st.ID, 0), nil)
		wantErr(t, err, ErrInvalid)
	})
	t.Run("no actor", func(t *testing.T) {
		f := newFixture(t)
		st, _ := f.stay(t, NewStay{})
		_, _, err := f.s.EnrolWithChallenge(ctx, Actor{}, f.mint(t, st.ID, 0), p256CSR(t))
		wantErr(t, err, ErrInvalid)
	})
}

// A challenge that expired long ago is purged by a later mint; the device
// sending it then learns only that it is unknown.
func TestChallengePurge(t *testing.T) {
	f := newFixture(t)
	st, _ := f.stay(t, NewStay{CheckOut: t0.Add(72 * time.Hour)})
	old := f.mint(t, st.ID, time.Minute)
	f.clock.Advance(time.Minute + time.Hour)
	f.mint(t, st.ID, 0)
	if n := len(f.challenges(t)); n != 2 {
		t.Fatalf("%d rows an hour after expiry, want 2 (kept for a day)", n)
	}
	_, _, err := f.s.EnrolWithChallenge(context.Background(), f.guest, old, p256CSR(t))
	wantErr(t, err, ErrChallengeExpired)

	f.clock.Advance(24 * time.Hour)
	f.mint(t, st.ID, 0)
	if n := len(f.challenges(t)); n != 2 {
		t.Fatalf("%d rows a day after expiry, want 2 (the old one purged)", n)
	}
	_, _, err = f.s.EnrolWithChallenge(context.Background(), f.guest, old, p256CSR(t))
	wantErr(t, err, ErrUnknownChallenge)
}

// Two devices sending the same challenge at once: one enrols.
func TestConcurrentChallengeUse(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "keycard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	s, err := New(db, Options{Policies: testPolicies, Issuer: lockedIssuer{&mu, f.issuer}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := s.CreateStay(ctx, f.staff, NewStay{Room: "7", GuestName: "Crowd", CheckOut: t0.Add(24 * time.Hour), MaxDevices: 10, Policy: "standard"})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := s.MintEnrolChallenge(ctx, f.guest, st.ID, "ios", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	const devices = 8
	csrs := make([]*x509.CertificateRequest, devices)
	for i := range csrs {
		csrs[i] = p256CSR(t)
	}
	errs := make([]error, devices)
	var wg sync.WaitGroup
	for i := range devices {
		wg.Go(func() {
			_, _, errs[i] = s.EnrolWithChallenge(ctx, Actor{Name: "guest", Source: fmt.Sprintf("10.0.0.%d", i)}, c, csrs[i])
		})
	}
	wg.Wait()
	var ok int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrChallengeUsed):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d devices enrolled with one challenge, want 1", ok)
	}
	if ds, err := s.Devices(ctx, st.ID); err != nil || len(ds) != 1 {
		t.Errorf("%d devices, %v; want 1", len(ds), err)
	}
}
