package vouchers

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

func TestAuthorize(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	checkOut := t0.Add(48 * time.Hour)
	live, code := f.stay(t, NewStay{Room: "201", CheckOut: checkOut, Policy: "premium"})
	liveDev, liveCert := f.redeem(t, code)

	_, endedCode := f.stay(t, NewStay{Room: "202"})
	_, endedCert := f.redeem(t, endedCode)

	_, revokedCode := f.stay(t, NewStay{Room: "203"})
	revokedDev, revokedCert := f.redeem(t, revokedCode)

	_, futureCode := f.stay(t, NewStay{Room: "204", CheckIn: t0.Add(6 * time.Hour), CheckOut: t0.Add(30 * time.Hour)})
	_, futureCert := f.redeem(t, futureCode)

	// Stays booked until t0+30m and extended to t0+48h: by now their
	// devices' certificates have expired.
	oldCheckOut := t0.Add(30 * time.Minute)
	newCheckOut := t0.Add(48 * time.Hour)
	extended := func(room string) (Stay, Device, *x509.Certificate) {
		t.Helper()
		st, code := f.stay(t, NewStay{Room: room, CheckOut: oldCheckOut})
		d, cert := f.redeem(t, code)
		if _, err := f.s.ExtendStay(ctx, f.staff, st.ID, newCheckOut); err != nil {
			t.Fatal(err)
		}
		return st, d, cert
	}
	_, extDev, extCert := extended("205")
	_, extRevokedDev, extRevokedCert := extended("206")
	extEnded, _, extEndedCert := extended("207")
	extEndedEarly, _, extEndedEarlyCert := extended("208")
	// Ended before the old check-out: the stay was cut short, not
	// extended past the certificate.
	if _, err := f.s.EndStay(ctx, f.staff, extEndedEarly.ID); err != nil {
		t.Fatal(err)
	}

	f.clock.Advance(time.Hour)
	// Ended after the old check-out: the extension was in force, then the
	// guest left.
	if _, err := f.s.EndStay(ctx, f.staff, extEnded.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.RevokeDevice(ctx, f.staff, extRevokedDev.ID, "lost"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.EndStay(ctx, f.staff, stayOf(t, f, endedCert)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.RevokeDevice(ctx, f.staff, revokedDev.ID, "lost"); err != nil {
		t.Fatal(err)
	}

	other := newTestCA(t, "Evil Twin")
	key := newKey(t)
	now := t0.Add(2 * time.Hour)
	cn := DeviceCommonName(liveDev.ID)
	strangerCert := other.leaf(t, key, cn, nil, t0.Add(-time.Hour), checkOut, x509.ExtKeyUsageClientAuth)
	// Our CA, but a certificate nobody enrolled.
	unknownCert := f.ca.leaf(t, key, "device-999", nil, t0.Add(-time.Hour), checkOut, x509.ExtKeyUsageClientAuth)
	// Our CA, the live device's serial, another name: a forged or mixed-up record.
	sameSerial := *liveCert
	sameSerial.Subject.CommonName = "device-998"
	serverCert := f.ca.leaf(t, key, "radius.keycard.test", nil, t0.Add(-time.Hour), checkOut, x509.ExtKeyUsageServerAuth)
	noEKU := f.ca.leaf(t, key, cn, nil, t0.Add(-time.Hour), checkOut)

	// Look-alikes of the extended device's expired certificate: its serial,
	// name and key, but not what Keycard issued.
	extCN := DeviceCommonName(extDev.ID)
	otherEnd := f.ca.reissue(t, extCert, extCert.NotAfter.Add(-10*time.Minute), x509.ExtKeyUsageClientAuth)
	laterEnd := f.ca.reissue(t, extCert, extCert.NotAfter.Add(10*time.Minute), x509.ExtKeyUsageClientAuth)
	forged := other.reissue(t, extCert, extCert.NotAfter, x509.ExtKeyUsageClientAuth)
	extNoEKU := f.ca.reissue(t, extCert, extCert.NotAfter)
	extServer := f.ca.reissue(t, extCert, extCert.NotAfter, x509.ExtKeyUsageServerAuth)
	extSameSerial := *extCert
	extSameSerial.Subject.CommonName = "device-998"
	unknownExpired := f.ca.leaf(t, key, "device-997", nil, t0.Add(-time.Hour), oldCheckOut, x509.ExtKeyUsageClientAuth)
	strangerExpired := other.leaf(t, key, extCN, nil, t0.Add(-time.Hour), oldCheckOut, x509.ExtKeyUsageClientAuth)

	tests := []struct {
		name string
		cert *x509.Certificate
		at   time.Time
		want Reason
	}{
		{"live stay", liveCert, now, ReasonOK},
		{"checked out by staff", endedCert, now, ReasonStayEnded},
		{"revoked", revokedCert, now, ReasonRevoked},
		{"stay not started", futureCert, now, ReasonStayNotStarted},
		{"stay started", futureCert, t0.Add(7 * time.Hour), ReasonOK},
		{"another CA", strangerCert, now, ReasonWrongCA},
		{"expired", liveCert, checkOut.Add(time.Second), ReasonCertificateExpired},
		{"not yet valid", liveCert, t0.Add(-time.Hour), ReasonCertificateNotYetValid},
		{"server certificate", serverCert, now, ReasonNotClientCertificate},
		{"no EKU", noEKU, now, ReasonNotClientCertificate},
		{"unknown serial", unknownCert, now, ReasonUnknownDevice},
		{"identity mismatch", &sameSerial, now, ReasonUnknownDevice},
		{"nil", nil, now, ReasonUnknownDevice},

		// Extended stays: a certificate past its NotAfter.
		{"extended stay, expired certificate", extCert, now, ReasonOK},
		{"extended stay, at the certificate's end", extCert, oldCheckOut, ReasonOK},
		{"extended stay, at the new check-out", extCert, newCheckOut, ReasonStayEnded},
		{"extended stay but revoked", extRevokedCert, now, ReasonRevoked},
		{"extended then ended", extEndedCert, now, ReasonStayEnded},
		{"extended then ended before the old check-out", extEndedEarlyCert, now, ReasonCertificateExpired},
		{"NotAfter earlier than the record", otherEnd, now, ReasonCertificateExpired},
		{"NotAfter later than the record", laterEnd, now, ReasonCertificateExpired},
		{"expired, forged by another CA", forged, now, ReasonCertificateExpired},
		{"expired, another CA", strangerExpired, now, ReasonCertificateExpired},
		{"expired, no EKU", extNoEKU, now, ReasonCertificateExpired},
		{"expired, server certificate", extServer, now, ReasonCertificateExpired},
		{"expired, identity mismatch", &extSameSerial, now, ReasonCertificateExpired},
		{"expired, unknown serial", unknownExpired, now, ReasonCertificateExpired},
		{"extended stay, not yet valid", extCert, t0.Add(-time.Hour), ReasonCertificateNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.counts(t)
			dec, err := f.s.Authorize(ctx, tt.cert, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if dec.Reason != tt.want || dec.Allowed != (tt.want == ReasonOK) {
				t.Fatalf("Authorize = %v %q, want %q", dec.Allowed, dec.Reason, tt.want)
			}
			if !dec.Allowed && (dec.Remaining != 0 || dec.SecondsLeft() != 0) {
				t.Errorf("refused with %v remaining", dec.Remaining)
			}
			if after := f.counts(t); after != before {
				t.Errorf("Authorize wrote: %+v -> %+v", before, after)
			}
		})
	}

	t.Run("allowed decision", func(t *testing.T) {
		dec, err := f.s.Authorize(ctx, liveCert, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := checkOut.Sub(now); dec.Remaining != want || dec.SecondsLeft() != int64(want/time.Second) {
			t.Errorf("Remaining = %v (%d s), want %v", dec.Remaining, dec.SecondsLeft(), want)
		}
		if dec.Stay.ID != live.ID || dec.Device.ID != liveDev.ID || dec.Device.Serial != liveDev.Serial {
			t.Errorf("stay %d device %d", dec.Stay.ID, dec.Device.ID)
		}
		if dec.Policy != (Policy{Name: "premium", VLAN: 200}) {
			t.Errorf("policy = %+v", dec.Policy)
		}
	})

	t.Run("extended stay past the certificate's end", func(t *testing.T) {
		for _, at := range []time.Time{oldCheckOut, now, newCheckOut.Add(-time.Second)} {
			dec, err := f.s.Authorize(ctx, extCert, at)
			if err != nil || !dec.Allowed {
				t.Fatalf("at %v: Authorize = %v %q, %v", at, dec.Allowed, dec.Reason, err)
			}
			// Until the stay's new check-out, not the certificate's end.
			if want := newCheckOut.Sub(at); dec.Remaining != want || dec.SecondsLeft() != int64(want/time.Second) {
				t.Errorf("at %v: Remaining = %v (%d s), want %v", at, dec.Remaining, dec.SecondsLeft(), want)
			}
			if dec.Device.ID != extDev.ID || !dec.Device.NotAfter.Equal(oldCheckOut) || !dec.Stay.CheckOut.Equal(newCheckOut) {
				t.Errorf("at %v: device %+v stay %+v", at, dec.Device, dec.Stay)
			}
		}
	})

	t.Run("extended stay runs to the new check-out before the old one too", func(t *testing.T) {
		newCheckOut := checkOut.Add(24 * time.Hour)
		if _, err := f.s.ExtendStay(ctx, f.staff, live.ID, newCheckOut); err != nil {
			t.Fatal(err)
		}
		dec, err := f.s.Authorize(ctx, liveCert, now)
		if err != nil || !dec.Allowed || dec.Remaining != newCheckOut.Sub(now) {
			t.Errorf("Authorize = %v %q %v, %v; want %v left", dec.Allowed, dec.Reason, dec.Remaining, err, newCheckOut.Sub(now))
		}
	})
}

func TestAuthorizeRechecksCapAndPolicy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, code := f.stay(t, NewStay{MaxDevices: 2})
	_, first := f.redeem(t, code)
	_, second := f.redeem(t, code)
	// The cap was lowered behind Keycard's back: the later device is refused.
	if _, err := f.db.Exec(`UPDATE stays SET max_devices = 1 WHERE id = ?`, st.ID); err != nil {
		t.Fatal(err)
	}
	for cert, want := range map[*x509.Certificate]Reason{first: ReasonOK, second: ReasonDeviceCap} {
		if dec, err := f.s.Authorize(ctx, cert, t0); err != nil || dec.Reason != want {
			t.Errorf("Authorize = %q, %v; want %q", dec.Reason, err, want)
		}
	}
	// The stay's policy was removed from the configuration.
	roots, inters := f.ca.pools()
	narrow, err := New(f.db, Options{Policies: map[string]Policy{"premium": {}}, Roots: roots, Intermediates: inters})
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := narrow.Authorize(ctx, first, t0); err != nil || dec.Reason != ReasonUnknownPolicy {
		t.Errorf("Authorize = %q, %v; want %q", dec.Reason, err, ReasonUnknownPolicy)
	}
	// Without roots nothing is trusted, not even the system's.
	bare, _ := New(f.db, Options{Policies: testPolicies})
	if dec, err := bare.Authorize(ctx, first, t0); err != nil || dec.Reason != ReasonWrongCA {
		t.Errorf("Authorize = %q, %v; want %q", dec.Reason, err, ReasonWrongCA)
	}
}

func TestSecondsLeft(t *testing.T) {
	for _, tt := range []struct {
		d    Decision
		want int64
	}{
		{Decision{Allowed: true, Remaining: 90*time.Second + 999*time.Millisecond}, 90},
		{Decision{Allowed: true, Remaining: 300 * time.Millisecond}, 1},
		{Decision{Allowed: false, Remaining: time.Hour}, 0},
	} {
		if got := tt.d.SecondsLeft(); got != tt.want {
			t.Errorf("%+v.SecondsLeft() = %d, want %d", tt.d, got, tt.want)
		}
	}
	if len(Reasons()) != 11 {
		t.Errorf("Reasons() = %v", Reasons())
	}
}

// stayOf finds the stay of the device holding cert.
func stayOf(t *testing.T, f *fixture, cert *x509.Certificate) int64 {
	t.Helper()
	dec, err := f.s.Authorize(context.Background(), cert, f.clock.Now())
	if err != nil || !dec.Allowed {
		t.Fatalf("Authorize = %+v, %v", dec, err)
	}
	return dec.Stay.ID
}

// After ExtendStay the devices keep their certificates, which end at the
// old check-out, and keep working past it until the new one: the guest
// does not enrol again. They keep holding their places under the cap,
// at enrolment and in Authorize, until revoked.
func TestExtendedStayKeepsDevices(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	oldCheckOut := t0.Add(time.Hour)
	newCheckOut := t0.Add(24 * time.Hour)
	st, code := f.stay(t, NewStay{CheckOut: oldCheckOut, MaxDevices: 1})
	old, oldCert := f.redeem(t, code)
	if _, err := f.s.ExtendStay(ctx, f.staff, st.ID, newCheckOut); err != nil {
		t.Fatal(err)
	}
	atCap := func(when string) {
		t.Helper()
		_, _, err := f.s.Redeem(ctx, f.guest, code, Enrolment{PublicKey: newKey(t)})
		if !errors.Is(err, ErrDeviceCap) {
			t.Errorf("%s: Redeem error = %v, want %v", when, err, ErrDeviceCap)
		}
		_, _, err = f.s.EnrolDevice(ctx, f.staff, st.ID, Enrolment{PublicKey: newKey(t)})
		if !errors.Is(err, ErrDeviceCap) {
			t.Errorf("%s: EnrolDevice error = %v, want %v", when, err, ErrDeviceCap)
		}
	}
	atCap("before the old check-out")

	f.clock.Advance(2 * time.Hour) // past the old check-out: the certificate has expired
	now := f.clock.Now()
	if !now.After(oldCert.NotAfter) {
		t.Fatalf("certificate ends %v, not before %v", oldCert.NotAfter, now)
	}
	dec, err := f.s.Authorize(ctx, oldCert, now)
	if err != nil || !dec.Allowed {
		t.Fatalf("expired certificate of the extended stay: Authorize = %v %q, %v; want allowed", dec.Allowed, dec.Reason, err)
	}
	if want := newCheckOut.Sub(now); dec.Remaining != want {
		t.Errorf("Remaining = %v, want %v (to the new check-out)", dec.Remaining, want)
	}
	atCap("after the old check-out")

	// Revoking the device frees its place.
	if _, err := f.s.RevokeDevice(ctx, f.staff, old.ID, "replaced"); err != nil {
		t.Fatal(err)
	}
	if dec, err := f.s.Authorize(ctx, oldCert, now); err != nil || dec.Reason != ReasonRevoked {
		t.Errorf("revoked: Authorize = %q, %v; want %q", dec.Reason, err, ReasonRevoked)
	}
	renewed, cert := f.redeem(t, code)
	if !renewed.NotAfter.Equal(newCheckOut) {
		t.Errorf("new device's NotAfter = %v, want the new check-out", renewed.NotAfter)
	}
	if dec, err := f.s.Authorize(ctx, cert, now); err != nil || !dec.Allowed || dec.Remaining != newCheckOut.Sub(now) {
		t.Errorf("new device: Authorize = %v %q %v, %v; want allowed until the check-out", dec.Allowed, dec.Reason, dec.Remaining, err)
	}
	atCap("with the new device")
	if ds, _ := f.s.Devices(ctx, st.ID); len(ds) != 2 || ds[0].ID != old.ID || ds[1].ID != renewed.ID {
		t.Errorf("devices = %+v, want the old and the new one", ds)
	}
}

// Authorize's cap check counts an extended stay's expired certificates as
// the live devices they are.
func TestAuthorizeCapCountsExtendedDevices(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, code := f.stay(t, NewStay{CheckOut: t0.Add(time.Hour), MaxDevices: 2})
	_, first := f.redeem(t, code)
	_, second := f.redeem(t, code)
	if _, err := f.s.ExtendStay(ctx, f.staff, st.ID, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The cap was lowered behind Keycard's back: the later device is
	// refused, because the first one, expired certificate and all, holds
	// the one place.
	if _, err := f.db.Exec(`UPDATE stays SET max_devices = 1 WHERE id = ?`, st.ID); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(2 * time.Hour)
	for cert, want := range map[*x509.Certificate]Reason{first: ReasonOK, second: ReasonDeviceCap} {
		if dec, err := f.s.Authorize(ctx, cert, now); err != nil || dec.Reason != want {
			t.Errorf("Authorize = %q, %v; want %q", dec.Reason, err, want)
		}
	}
}

// A certificate past its NotAfter is accepted only while every CA of its
// chain is still valid, also when its chain is in the verified-chains
// cache; and the cache never accepts what x509.Verify would not.
func TestExtendedStayNeedsLiveCA(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// An issuing CA that retires at t0+3h, and a store that knows only it.
	interTmpl := *f.ca.inter
	interTmpl.NotAfter = t0.Add(3 * time.Hour)
	f.ca.inter = mustCert(t, &interTmpl, f.ca.root, f.ca.interKey.Public(), f.ca.rootKey)
	roots, inters := f.ca.pools()
	s, err := New(f.db, Options{Policies: testPolicies, Issuer: f.issuer, Roots: roots, Intermediates: inters, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s.kdf = testKDF
	f.s = s

	st, code := f.stay(t, NewStay{CheckOut: t0.Add(time.Hour)})
	_, cert := f.redeem(t, code)
	if _, err := f.s.ExtendStay(ctx, f.staff, st.ID, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, cached := range []bool{false, true} {
		for _, tt := range []struct {
			at   time.Time
			want Reason
		}{
			{t0.Add(2 * time.Hour), ReasonOK},
			{t0.Add(3 * time.Hour), ReasonOK},
			{t0.Add(3*time.Hour + time.Second), ReasonCertificateExpired},
			{t0.Add(2 * time.Hour), ReasonOK},
		} {
			if !cached {
				s.chains = newVerifiedChains()
			}
			dec, err := s.Authorize(ctx, cert, tt.at)
			if err != nil || dec.Reason != tt.want || dec.Allowed != (tt.want == ReasonOK) {
				t.Errorf("cached=%v at %v: Authorize = %v %q, %v; want %q", cached, tt.at, dec.Allowed, dec.Reason, err, tt.want)
			}
		}
	}
}
