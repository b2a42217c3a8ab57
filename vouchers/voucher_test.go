package vouchers

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestNormaliseCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"K7QX-M4TR-9PCW", "K7QXM4TR9PCW", true},
		{"k7qx-m4tr-9pcw", "K7QXM4TR9PCW", true},
		{"k7qxm4tr9pcw", "K7QXM4TR9PCW", true},
		{" K7QX M4TR\t9PCW ", "K7QXM4TR9PCW", true},
		{"K7QX--M4TR 9PCW-", "K7QXM4TR9PCW", true},
		{"K7QX-M4TR-9PCW-ACDE", "K7QXM4TR9PCWACDE", true},
		{"K0QX-M4TR-9PCW", "", false}, // 0 is not in the alphabet
		{"KOQX-M4TR-9PCW", "", false}, // nor O
		{"K1QX-M4TR-9PCW", "", false}, // nor 1
		{"K7QX-M4TR-9PC", "", false},  // 11 characters
		{"K7QX-M4TR", "", false},      // too short: no secret left
		{"", "", false},
		{"K7QX-M4TR-9PCW\x00", "", false},
		{"K7QX-M4TR-9PCWé", "", false},
		{strings.Repeat("K7QX", 9), "", false}, // too many groups
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormaliseCode(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("NormaliseCode(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
	if got := FormatCode("K7QXM4TR9PCW"); got != "K7QX-M4TR-9PCW" {
		t.Errorf("FormatCode = %q", got)
	}
}

func FuzzNormaliseCode(f *testing.F) {
	for _, s := range []string{"K7QX-M4TR-9PCW", "k7qx m4tr 9pcw", "", "----", "K0QX-M4TR-9PCW", strings.Repeat("A", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormaliseCode(in)
		if err != nil {
			return
		}
		if len(got)%4 != 0 || len(got) < 12 || len(got) > 32 {
			t.Fatalf("NormaliseCode(%q) = %q: bad length", in, got)
		}
		for _, c := range []byte(got) {
			if strings.IndexByte(CodeAlphabet, c) < 0 {
				t.Fatalf("NormaliseCode(%q) = %q: %q outside the alphabet", in, got, c)
			}
		}
		again, err := NormaliseCode(FormatCode(got))
		if err != nil || again != got {
			t.Fatalf("round trip of %q: %q, %v", got, again, err)
		}
		if lower, err := NormaliseCode(strings.ToLower(in)); err != nil || lower != got {
			t.Fatalf("lower case %q: %q, %v", in, lower, err)
		}
	})
}

func TestCodeAlphabetHasNoLookAlikes(t *testing.T) {
	if strings.ContainsAny(CodeAlphabet, "0O1IL2Z5S8B") {
		t.Errorf("alphabet %q contains an ambiguous character", CodeAlphabet)
	}
	if len(CodeAlphabet) != 25 {
		t.Errorf("alphabet has %d characters", len(CodeAlphabet))
	}
	code, err := newCode(bytes.NewReader(bytes.Repeat([]byte{0, 24, 250, 255, 49}, 100)), 3)
	// 250 and 255 are rejected (bias), 49 % 25 = 24.
	if err != nil || code != "3YY3YY3YY3YY" {
		t.Errorf("newCode = %q, %v", code, err)
	}
	if _, err := newCode(bytes.NewReader(nil), 3); err == nil {
		t.Error("newCode with no randomness succeeded")
	}
}

func TestRedeem(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, code := f.stay(t, NewStay{})
	key := newKey(t)
	// Guests type codes in lower case, without dashes.
	typed := strings.ToLower(strings.ReplaceAll(code, "-", " "))
	d, cert, err := f.s.Redeem(ctx, f.guest, typed, Enrolment{PublicKey: key, Platform: "android", Label: "Pixel"})
	if err != nil {
		t.Fatal(err)
	}
	wantName := fmt.Sprintf("device-%d", d.ID)
	if d.StayID != st.ID || d.Identity != wantName || d.Platform != "android" || d.Label != "Pixel" ||
		d.Serial != cert.SerialNumber.Text(16) || !d.NotAfter.Equal(st.CheckOut) || !d.EnrolledAt.Equal(t0) {
		t.Errorf("device = %+v", d)
	}
	req := f.issuer.last
	if req.CommonName != wantName || !req.NotAfter.Equal(st.CheckOut) || len(req.URIs) != 1 ||
		req.URIs[0].String() != fmt.Sprintf("urn:keycard:device:%d", d.ID) {
		t.Errorf("certificate request = %+v", req)
	}
	if got, err := f.s.Device(ctx, d.ID); err != nil || got.Serial != d.Serial || got.Identity != wantName {
		t.Errorf("Device(%d) = %+v, %v", d.ID, got, err)
	}
	log, _ := f.s.AuditLog(ctx, 1)
	if log[0].Action != "device.enrol" || log[0].Subject != fmt.Sprintf("device:%d", d.ID) ||
		log[0].Actor != "guest" || log[0].Source != "10.0.0.5" || !strings.Contains(log[0].Detail, d.Serial) {
		t.Errorf("audit entry = %+v", log[0])
	}
}

func TestVoucherStopsAtDeviceCapAndStayEnd(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, code := f.stay(t, NewStay{MaxDevices: 2})
	first, _ := f.redeem(t, code)
	f.redeem(t, code)

	before := f.counts(t)
	_, _, err := f.s.Redeem(ctx, f.guest, code, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrDeviceCap)
	if after := f.counts(t); after != before {
		t.Errorf("rows changed: %+v -> %+v", before, after)
	}
	// Staff cannot go past the cap either.
	_, _, err = f.s.EnrolDevice(ctx, f.staff, st.ID, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrDeviceCap)

	// Revoking a lost phone frees its place.
	if _, err := f.s.RevokeDevice(ctx, f.staff, first.ID, "lost phone"); err != nil {
		t.Fatal(err)
	}
	f.redeem(t, code)

	// After check-out the code is dead.
	f.clock.Advance(48 * time.Hour)
	if _, err := f.s.RevokeDevice(ctx, f.staff, first.ID+1, "make room"); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.s.Redeem(ctx, f.guest, code, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrStayEnded)
}

func TestVoucherStopsWhenStayEndedEarly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, code := f.stay(t, NewStay{})
	if _, err := f.s.EndStay(ctx, f.staff, st.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.s.Redeem(ctx, f.guest, code, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrStayEnded)
	_, err = f.s.ReissueVoucher(ctx, f.staff, st.ID)
	wantErr(t, err, ErrStayEnded)
}

func TestRedeemBeforeCheckIn(t *testing.T) {
	f := newFixture(t)
	_, code := f.stay(t, NewStay{CheckIn: t0.Add(3 * time.Hour), CheckOut: t0.Add(27 * time.Hour)})
	f.redeem(t, code) // enrolling in the lobby is fine; Authorize waits for check-in
}

// wrongCode keeps code's selector and changes its secret.
func wrongCode(code string, i int) string {
	c := []byte(code)
	c[len(c)-1] = CodeAlphabet[(strings.IndexByte(CodeAlphabet, c[len(c)-1])+1+i%24)%len(CodeAlphabet)]
	return string(c)
}

func TestWrongCodesLockTheVoucher(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxFailedTries = 5 })
	ctx := context.Background()
	st, code := f.stay(t, NewStay{})
	other, otherCode := f.stay(t, NewStay{Room: "102"})

	// An unknown selector and a wrong secret read the same.
	_, _, unknown := f.s.Redeem(ctx, f.guest, "CCCC-CCCC-CCCC", Enrolment{PublicKey: newKey(t)})
	_, _, wrong := f.s.Redeem(ctx, f.guest, wrongCode(code, 0), Enrolment{PublicKey: newKey(t)})
	if unknown == nil || wrong == nil || unknown.Error() != wrong.Error() || !errors.Is(wrong, ErrVoucherInvalid) {
		t.Fatalf("unknown selector: %v; wrong secret: %v", unknown, wrong)
	}
	for i := 1; i < 4; i++ {
		_, _, err := f.s.Redeem(ctx, f.guest, wrongCode(code, i), Enrolment{PublicKey: newKey(t)})
		wantErr(t, err, ErrVoucherInvalid)
		if errors.Is(err, ErrVoucherLocked) {
			t.Fatalf("locked after %d tries", i+1)
		}
	}
	_, _, err := f.s.Redeem(ctx, f.guest, wrongCode(code, 4), Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrVoucherLocked) // the fifth wrong code locks it

	_, _, err = f.s.Redeem(ctx, f.guest, code, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrVoucherLocked)
	if f.issuer.calls != 0 {
		t.Fatalf("issuer called %d times", f.issuer.calls)
	}
	// Other stays' vouchers are unaffected.
	if d, _ := f.redeem(t, otherCode); d.StayID != other.ID {
		t.Errorf("other stay's device went to stay %d", d.StayID)
	}

	log, _ := f.s.AuditLog(ctx, 2)
	if log[1].Action != "voucher.lock" || log[1].Subject != fmt.Sprintf("stay:%d", st.ID) || log[1].Source != "10.0.0.5" {
		t.Errorf("audit entry = %+v", log[1])
	}

	fresh, err := f.s.ReissueVoucher(ctx, f.staff, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == code {
		t.Fatal("reissued the same code")
	}
	_, _, err = f.s.Redeem(ctx, f.guest, code, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrVoucherInvalid)
	if d, _ := f.redeem(t, fresh); d.StayID != st.ID {
		t.Errorf("device went to stay %d", d.StayID)
	}
	log, _ = f.s.AuditLog(ctx, 2)
	if log[1].Action != "voucher.reissue" || log[0].Action != "device.enrol" {
		t.Errorf("audit = %+v", log)
	}
}

func TestSuccessResetsFailedTries(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxFailedTries = 3 })
	ctx := context.Background()
	_, code := f.stay(t, NewStay{})
	for range 2 {
		f.s.Redeem(ctx, f.guest, wrongCode(code, 0), Enrolment{PublicKey: newKey(t)})
		f.s.Redeem(ctx, f.guest, wrongCode(code, 1), Enrolment{PublicKey: newKey(t)})
		f.redeem(t, code)
	}
}

func TestMalformedCodeIsInvalid(t *testing.T) {
	f := newFixture(t)
	before := f.counts(t)
	for _, code := range []string{"", "hello", "K0QX-M4TR-9PCW"} {
		_, _, err := f.s.Redeem(context.Background(), f.guest, code, Enrolment{PublicKey: newKey(t)})
		if err != ErrVoucherInvalid {
			t.Errorf("Redeem(%q) = %v, want exactly ErrVoucherInvalid", code, err)
		}
	}
	if after := f.counts(t); after != before {
		t.Errorf("rows changed: %+v -> %+v", before, after)
	}
}

func TestEnrolmentKeys(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	csr := func(key any) *x509.CertificateRequest {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
		if err != nil {
			t.Fatal(err)
		}
		req, err := x509.ParseCertificateRequest(der)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	tampered := csr(edPriv)
	tampered.Signature = append([]byte(nil), tampered.Signature...)
	tampered.Signature[0] ^= 1
	swapped := csr(p384)
	swapped.PublicKey = edPub // signature no longer matches the key

	tests := []struct {
		name string
		e    Enrolment
		want string // "" = accepted
	}{
		{"P-256 key", Enrolment{PublicKey: newKey(t)}, ""},
		{"P-384 key", Enrolment{PublicKey: p384.Public()}, ""},
		{"Ed25519 key", Enrolment{PublicKey: edPub}, ""},
		{"RSA 2048 key", Enrolment{PublicKey: rsa2048.Public()}, ""},
		{"Ed25519 CSR", Enrolment{CSR: csr(edPriv)}, ""},
		{"RSA 2048 CSR", Enrolment{CSR: csr(rsa2048)}, ""},
		{"RSA 1024 key", Enrolment{PublicKey: rsa1024.Public()}, "RSA key of 1024 bits"},
		{"RSA 1024 CSR", Enrolment{CSR: csr(rsa1024)}, "RSA key of 1024 bits"},
		{"P-224 key", Enrolment{PublicKey: p224.Public()}, "P-224 is not accepted"},
		{"private key", Enrolment{PublicKey: p384}, "is not accepted"},
		{"tampered CSR", Enrolment{CSR: tampered}, "signature does not verify"},
		{"CSR with another key", Enrolment{CSR: swapped}, "signature does not verify"},
		{"both", Enrolment{PublicKey: edPub, CSR: csr(edPriv)}, "not both"},
		{"neither", Enrolment{}, "public key or a CSR is required"},
		{"long label", Enrolment{PublicKey: edPub, Label: strings.Repeat("x", 65)}, "label is too long"},
		{"control in platform", Enrolment{PublicKey: edPub, Platform: "ios\n"}, "control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			st, _ := f.stay(t, NewStay{})
			before := f.counts(t)
			d, cert, err := f.s.EnrolDevice(context.Background(), f.staff, st.ID, tt.e)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				want := tt.e.PublicKey
				if want == nil {
					want = tt.e.CSR.PublicKey
				}
				if !cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(want) || d.Serial == "" {
					t.Errorf("certificate does not carry the device's key")
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want ErrInvalid containing %q", err, tt.want)
			}
			if after := f.counts(t); after != before || f.issuer.calls != 0 {
				t.Errorf("rows changed %+v -> %+v, issuer calls %d", before, after, f.issuer.calls)
			}
		})
	}
}

func TestIssuerFailureLeavesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, code := f.stay(t, NewStay{})
	before := f.counts(t)
	f.issuer.fail = errors.New("HSM unplugged")
	_, _, err := f.s.Redeem(ctx, f.guest, code, Enrolment{PublicKey: newKey(t)})
	if err == nil || !strings.Contains(err.Error(), "HSM unplugged") {
		t.Fatalf("error = %v", err)
	}
	_, _, err = f.s.EnrolDevice(ctx, f.staff, st.ID, Enrolment{PublicKey: newKey(t)})
	if err == nil {
		t.Fatal("EnrolDevice succeeded without a certificate")
	}
	if after := f.counts(t); after != before {
		t.Errorf("rows changed: %+v -> %+v", before, after)
	}
	if err := f.s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	f.issuer.fail = nil
	f.redeem(t, code) // the voucher still works once the CA is back
}

// lyingIssuer certifies the wrong key.
type lyingIssuer struct{ fakeIssuer }

func (l *lyingIssuer) IssueDeviceCertificate(ctx context.Context, req CertificateRequest) (*x509.Certificate, error) {
	req.PublicKey = newKey(l.t)
	return l.fakeIssuer.IssueDeviceCertificate(ctx, req)
}

func TestIssuerMustCertifyTheDeviceKey(t *testing.T) {
	var liar *lyingIssuer
	f := newFixture(t, func(o *Options) {
		liar = &lyingIssuer{fakeIssuer: *o.Issuer.(*fakeIssuer)}
		o.Issuer = liar
	})
	st, _ := f.stay(t, NewStay{})
	before := f.counts(t)
	_, _, err := f.s.EnrolDevice(context.Background(), f.staff, st.ID, Enrolment{PublicKey: newKey(t)})
	if err == nil || !strings.Contains(err.Error(), "different key") {
		t.Fatalf("error = %v", err)
	}
	if after := f.counts(t); after != before {
		t.Errorf("rows changed: %+v -> %+v", before, after)
	}
}

func TestRevokeDevice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, code := f.stay(t, NewStay{})
	d, _ := f.redeem(t, code)
	before := f.counts(t)
	_, err := f.s.RevokeDevice(ctx, f.staff, d.ID, "  ")
	if !errors.Is(err, ErrInvalid) || f.counts(t) != before {
		t.Fatalf("empty reason: %v", err)
	}
	f.clock.Advance(time.Hour)
	got, err := f.s.RevokeDevice(ctx, f.staff, d.ID, "guest reported it stolen")
	if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(t0.Add(time.Hour)) || got.RevokeReason != "guest reported it stolen" {
		t.Fatalf("RevokeDevice = %+v, %v", got, err)
	}
	if _, err := f.s.RevokeDevice(ctx, f.staff, d.ID, "again"); !errors.Is(err, ErrInvalid) {
		t.Errorf("second revoke: %v", err)
	}
	revoked, err := f.s.Revoked(ctx)
	if err != nil || len(revoked) != 1 || revoked[0].Serial != d.Serial || !revoked[0].RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("Revoked = %+v, %v", revoked, err)
	}
	all, err := f.s.Devices(ctx, 0)
	if err != nil || len(all) != 1 {
		t.Errorf("Devices(0) = %v, %v", all, err)
	}
}

// sameBytes is a broken randomness source: every draw is the same code.
type sameBytes byte

func (b sameBytes) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestSelectorOfALiveStayIsNeverReused(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Rand = sameBytes(0) })
	ctx := context.Background()
	first, code := f.stay(t, NewStay{})
	if code != "3333-3333-3333" {
		t.Fatalf("code = %q", code)
	}
	before := f.counts(t)
	_, _, err := f.s.CreateStay(ctx, f.staff, NewStay{Room: "102", GuestName: "Bob", CheckOut: t0.Add(time.Hour), MaxDevices: 1, Policy: "standard"})
	if err == nil || !strings.Contains(err.Error(), "no free selector") {
		t.Fatalf("second stay with the same code: %v", err)
	}
	if after := f.counts(t); after != before {
		t.Errorf("rows changed: %+v -> %+v", before, after)
	}
	// Once the first stay is over its selector may serve a new stay, and
	// the old code no longer reaches the old stay.
	if _, err := f.s.EndStay(ctx, f.staff, first.ID); err != nil {
		t.Fatal(err)
	}
	second, again := f.stay(t, NewStay{Room: "102"})
	if again != code {
		t.Fatalf("code = %q", again)
	}
	if d, _ := f.redeem(t, code); d.StayID != second.ID {
		t.Errorf("device went to stay %d, want %d", d.StayID, second.ID)
	}
}
