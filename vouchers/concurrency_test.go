package vouchers

import (
	"context"
	"crypto/x509"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"keycard/internal/store"
)

// Guests redeeming the same code at once never get past the device cap:
// enrolment counts and inserts in one write transaction.
func TestConcurrentRedeemHonoursTheCap(t *testing.T) {
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
	roots, inters := f.ca.pools()
	var mu sync.Mutex // the fake issuer is not safe for concurrent use
	s, err := New(db, Options{Policies: testPolicies, Issuer: lockedIssuer{&mu, f.issuer}, Roots: roots, Intermediates: inters, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, code, err := s.CreateStay(ctx, f.staff, NewStay{Room: "7", GuestName: "Crowd", CheckOut: t0.Add(24 * time.Hour), MaxDevices: 3, Policy: "standard"})
	if err != nil {
		t.Fatal(err)
	}
	const guests = 8
	keys := make([]Enrolment, guests)
	for i := range keys {
		keys[i] = Enrolment{PublicKey: newKey(t)}
	}
	errs := make([]error, guests)
	var wg sync.WaitGroup
	for i := range guests {
		wg.Go(func() { _, _, errs[i] = s.Redeem(ctx, f.guest, code, keys[i]) })
	}
	wg.Wait()
	var ok, capped int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrDeviceCap):
			capped++
		default:
			t.Errorf("Redeem: %v", err)
		}
	}
	if ok != 3 || capped != guests-3 {
		t.Errorf("%d enrolled, %d refused; want 3 and %d", ok, capped, guests-3)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Error(err)
	}
}

type lockedIssuer struct {
	mu *sync.Mutex
	*fakeIssuer
}

func (l lockedIssuer) IssueDeviceCertificate(ctx context.Context, req CertificateRequest) (*x509.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fakeIssuer.IssueDeviceCertificate(ctx, req)
}
