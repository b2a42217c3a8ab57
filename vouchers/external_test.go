package vouchers

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestCreateStayExternal(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	req := NewStay{Room: "204", GuestName: "Grace Hopper", CheckOut: t0.Add(72 * time.Hour), MaxDevices: 2, Policy: "standard"}
	st, code, err := f.s.CreateStayExternal(ctx, f.staff, req, " RES-1001 ")
	if err != nil {
		t.Fatal(err)
	}
	if code == "" {
		t.Fatal("no voucher code")
	}
	got, err := f.s.StayByExternalID(ctx, "RES-1001")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != st.ID {
		t.Fatalf("StayByExternalID = stay %d, want %d", got.ID, st.ID)
	}
	if ext, err := f.s.ExternalID(ctx, st.ID); err != nil || ext != "RES-1001" {
		t.Fatalf("ExternalID = %q, %v; want RES-1001", ext, err)
	}
	log, err := f.s.AuditLog(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if log[0].Action != "stay.create" || !strings.Contains(log[0].Detail, `external_id="RES-1001"`) {
		t.Fatalf("audit = %+v, want stay.create naming the reservation", log[0])
	}
	if err := f.s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}

	// The same reservation again: refused, nothing written.
	before := f.counts(t)
	_, _, err = f.s.CreateStayExternal(ctx, f.staff, req, "RES-1001")
	wantErr(t, err, ErrDuplicateExternalID)
	if after := f.counts(t); after != before {
		t.Fatalf("a refused duplicate wrote rows: %+v -> %+v", before, after)
	}

	// Stays without a reservation id do not collide with each other.
	f.stay(t, NewStay{Room: "301"})
	f.stay(t, NewStay{Room: "302"})

	_, err = f.s.StayByExternalID(ctx, "RES-404")
	wantErr(t, err, ErrUnknownStay)
	_, err = f.s.ExternalID(ctx, 9999)
	wantErr(t, err, ErrUnknownStay)
	plain, _ := f.stay(t, NewStay{Room: "303"})
	if ext, err := f.s.ExternalID(ctx, plain.ID); err != nil || ext != "" {
		t.Fatalf("ExternalID of a desk stay = %q, %v; want empty", ext, err)
	}
}

func TestCreateStayExternalInvalid(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	good := NewStay{Room: "204", GuestName: "Grace Hopper", CheckOut: t0.Add(72 * time.Hour), MaxDevices: 2, Policy: "standard"}
	bad := good
	bad.CheckOut = t0.Add(-time.Hour)
	for name, tc := range map[string]struct {
		req NewStay
		ext string
	}{
		"empty id":       {good, "  "},
		"control chars":  {good, "RES\n1"},
		"too long":       {good, strings.Repeat("x", 129)},
		"invalid stay":   {bad, "RES-1"},
		"unknown policy": {NewStay{Room: "1", GuestName: "A", CheckOut: t0.Add(time.Hour), MaxDevices: 1, Policy: "gold"}, "RES-2"},
	} {
		t.Run(name, func(t *testing.T) {
			before := f.counts(t)
			_, _, err := f.s.CreateStayExternal(ctx, f.staff, tc.req, tc.ext)
			wantErr(t, err, ErrInvalid)
			if after := f.counts(t); after != before {
				t.Fatalf("an invalid create wrote rows: %+v -> %+v", before, after)
			}
		})
	}
}
