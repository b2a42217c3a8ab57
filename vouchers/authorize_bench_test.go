package vouchers

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"keycard/internal/store"
)

// benchStore is a Store on a file database (as served: WAL) holding one
// live stay with one enrolled device, whose certificate it returns.
func benchStore(b *testing.B) (*Store, *x509.Certificate) {
	b.Helper()
	f := newFixture(b)
	db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "keycard.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := Migrate(context.Background(), db); err != nil {
		b.Fatal(err)
	}
	roots, inters := f.ca.pools()
	s, err := New(db, Options{Policies: testPolicies, Issuer: f.issuer, Roots: roots, Intermediates: inters, Now: f.clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	f.s = s
	_, code := f.stay(b, NewStay{Room: "301", MaxDevices: 5})
	_, cert := f.redeem(b, code)
	return s, cert
}

// BenchmarkAuthorize measures the per-authentication policy check: a first
// sight of a certificate verifies its chain, a device seen before only pays
// the lookup.
func BenchmarkAuthorize(b *testing.B) {
	for _, tc := range []struct {
		name   string
		cached bool
	}{{"first sight", false}, {"seen before", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s, cert := benchStore(b)
			now := t0.Add(time.Hour)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if !tc.cached {
					s.chains = newVerifiedChains()
				}
				d, err := s.Authorize(ctx, cert, now)
				if err != nil || !d.Allowed {
					b.Fatalf("%v %v", d.Reason, err)
				}
			}
		})
	}
}

// BenchmarkAuthorizeParallel is the same check from several RADIUS workers
// at once.
func BenchmarkAuthorizeParallel(b *testing.B) {
	s, cert := benchStore(b)
	now := t0.Add(time.Hour)
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d, err := s.Authorize(context.Background(), cert, now)
			if err != nil || !d.Allowed {
				b.Fatalf("%v %v", d.Reason, err)
			}
		}
	})
}
