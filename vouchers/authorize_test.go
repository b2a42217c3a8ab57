package vouchers

import (
	"context"
	"crypto/x509"
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

	f.clock.Advance(time.Hour)
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

	t.Run("extended stay keeps the certificate's end", func(t *testing.T) {
		if _, err := f.s.ExtendStay(ctx, f.staff, live.ID, checkOut.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		dec, err := f.s.Authorize(ctx, liveCert, now)
		if err != nil || !dec.Allowed || dec.Remaining != liveCert.NotAfter.Sub(now) {
			t.Errorf("Authorize = %v %q %v, %v; want %v left", dec.Allowed, dec.Reason, dec.Remaining, err, liveCert.NotAfter.Sub(now))
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

// After ExtendStay the devices' old certificates end at the old check-out
// and the guest re-enrols. The expired certificates no longer hold places
// under the cap, neither at enrolment nor in Authorize; live ones do.
func TestReEnrolAfterExtendedStay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	oldCheckOut := t0.Add(time.Hour)
	st, code := f.stay(t, NewStay{CheckOut: oldCheckOut, MaxDevices: 1})
	old, _ := f.redeem(t, code)
	if _, err := f.s.ExtendStay(ctx, f.staff, st.ID, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Until the old check-out the first certificate is live and holds the
	// only place: revoke it to re-enrol earlier.
	_, _, err := f.s.Redeem(ctx, f.guest, code, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrDeviceCap)

	f.clock.Advance(time.Hour) // the old check-out: the first certificate has expired
	renewed, cert := f.redeem(t, code)
	if !renewed.NotAfter.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("re-enrolled NotAfter = %v, want the new check-out", renewed.NotAfter)
	}
	now := f.clock.Now().Add(time.Minute)
	if dec, err := f.s.Authorize(ctx, cert, now); err != nil || !dec.Allowed {
		t.Errorf("re-enrolled device: Authorize = %v %q, %v; want allowed", dec.Allowed, dec.Reason, err)
	}
	_, _, err = f.s.Redeem(ctx, f.guest, code, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrDeviceCap)
	_, _, err = f.s.EnrolDevice(ctx, f.staff, st.ID, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrDeviceCap)
	if ds, _ := f.s.Devices(ctx, st.ID); len(ds) != 2 || ds[0].ID != old.ID || ds[1].ID != renewed.ID {
		t.Errorf("devices = %+v, want the old and the re-enrolled one", ds)
	}
}
