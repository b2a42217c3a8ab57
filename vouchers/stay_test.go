package vouchers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCreateStay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, code, err := f.s.CreateStay(ctx, f.staff, NewStay{
		Room: " 412 ", GuestName: "Grace Hopper", CheckIn: t0.Add(2 * time.Hour), CheckOut: t0.Add(50*time.Hour + 300*time.Millisecond),
		MaxDevices: 4, Policy: "premium",
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.ID == 0 || st.Room != "412" || st.GuestName != "Grace Hopper" || st.MaxDevices != 4 || st.Policy != "premium" {
		t.Errorf("stay = %+v", st)
	}
	if !st.CheckIn.Equal(t0.Add(2*time.Hour)) || !st.CheckOut.Equal(t0.Add(50*time.Hour)) || !st.CreatedAt.Equal(t0) || st.EndedAt != nil {
		t.Errorf("times = in %v out %v created %v ended %v", st.CheckIn, st.CheckOut, st.CreatedAt, st.EndedAt)
	}
	if _, err := NormaliseCode(code); err != nil || len(code) != 14 || code[4] != '-' || code[9] != '-' {
		t.Errorf("code %q: %v", code, err)
	}
	got, err := f.s.Stay(ctx, st.ID)
	if err != nil || got.ID != st.ID || got.Room != st.Room || !got.CheckIn.Equal(st.CheckIn) ||
		!got.CheckOut.Equal(st.CheckOut) || got.EndedAt != nil || got.Policy != st.Policy {
		t.Errorf("Stay(%d) = %+v, %v; want %+v", st.ID, got, err, st)
	}
	log, err := f.s.AuditLog(ctx, 0)
	if err != nil || len(log) != 1 {
		t.Fatalf("audit log = %v, %v", log, err)
	}
	e := log[0]
	if e.Action != "stay.create" || e.Subject != "stay:1" || e.Actor != "staff:alice" || e.Source != "cli" || !e.At.Equal(t0) {
		t.Errorf("audit entry = %+v", e)
	}
	if strings.Contains(e.Detail, code) || strings.Contains(e.Detail, strings.ReplaceAll(code, "-", "")[4:]) {
		t.Errorf("audit detail leaks the voucher code: %q", e.Detail)
	}
}

func TestCreateStayRefusesBadInput(t *testing.T) {
	good := NewStay{Room: "101", GuestName: "Ada", CheckIn: t0, CheckOut: t0.Add(24 * time.Hour), MaxDevices: 2, Policy: "standard"}
	tests := []struct {
		name    string
		change  func(*NewStay)
		noActor bool
		want    string
	}{
		{"check-out before check-in", func(r *NewStay) { r.CheckOut = r.CheckIn.Add(-time.Hour) }, false, "must be after check-in"},
		{"check-out equals check-in", func(r *NewStay) { r.CheckOut = r.CheckIn }, false, "must be after check-in"},
		{"stay in the past", func(r *NewStay) { r.CheckIn, r.CheckOut = t0.Add(-72*time.Hour), t0.Add(-24*time.Hour) }, false, "in the past"},
		{"no check-out", func(r *NewStay) { r.CheckOut = time.Time{} }, false, "check-out is required"},
		{"too long", func(r *NewStay) { r.CheckOut = t0.AddDate(2, 0, 0) }, false, "longer than 366 days"},
		{"no room", func(r *NewStay) { r.Room = "  " }, false, "room is required"},
		{"long room", func(r *NewStay) { r.Room = strings.Repeat("9", 33) }, false, "room is too long"},
		{"no guest", func(r *NewStay) { r.GuestName = "" }, false, "guest name is required"},
		{"long guest", func(r *NewStay) { r.GuestName = strings.Repeat("a", 129) }, false, "guest name is too long"},
		{"control in guest", func(r *NewStay) { r.GuestName = "Ada\x00" }, false, "control characters"},
		{"zero devices", func(r *NewStay) { r.MaxDevices = 0 }, false, "max devices 0 is out of range"},
		{"51 devices", func(r *NewStay) { r.MaxDevices = 51 }, false, "max devices 51 is out of range"},
		{"unknown policy", func(r *NewStay) { r.Policy = "gold" }, false, `unknown policy "gold"; configured: premium, standard`},
		{"no actor", func(*NewStay) {}, true, "Actor.Name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			before := f.counts(t)
			req := good
			tt.change(&req)
			by := f.staff
			if tt.noActor {
				by = Actor{Source: "cli"}
			}
			_, code, err := f.s.CreateStay(context.Background(), by, req)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "vouchers: ") {
				t.Fatalf("error = %v, want ErrInvalid containing %q", err, tt.want)
			}
			if code != "" {
				t.Errorf("code %q returned with an error", code)
			}
			if after := f.counts(t); after != before {
				t.Errorf("rows changed: %+v -> %+v", before, after)
			}
		})
	}
}

func TestUnknownIDsChangeNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, _ := f.stay(t, NewStay{})
	before := f.counts(t)
	const missing = 999
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"Stay", second(f.s.Stay(ctx, missing)), ErrUnknownStay},
		{"ExtendStay", second(f.s.ExtendStay(ctx, f.staff, missing, t0.Add(72*time.Hour))), ErrUnknownStay},
		{"EndStay", second(f.s.EndStay(ctx, f.staff, missing)), ErrUnknownStay},
		{"ReissueVoucher", second(f.s.ReissueVoucher(ctx, f.staff, missing)), ErrUnknownStay},
		{"EnrolDevice", third(f.s.EnrolDevice(ctx, f.staff, missing, Enrolment{PublicKey: newKey(t)})), ErrUnknownStay},
		{"Device", second(f.s.Device(ctx, missing)), ErrUnknownDevice},
		{"RevokeDevice", second(f.s.RevokeDevice(ctx, f.staff, missing, "lost")), ErrUnknownDevice},
		{"MarkDisconnected", f.s.MarkDisconnected(ctx, missing, t0), ErrUnknownDevice},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.err, tt.want)
			if !strings.Contains(tt.err.Error(), "999") {
				t.Errorf("error %q does not name the id", tt.err)
			}
		})
	}
	if after := f.counts(t); after != before {
		t.Errorf("rows changed: %+v -> %+v", before, after)
	}
	if f.issuer.calls != 0 {
		t.Errorf("issuer called %d times", f.issuer.calls)
	}
	if devs, err := f.s.Devices(ctx, st.ID); err != nil || len(devs) != 0 {
		t.Errorf("Devices = %v, %v", devs, err)
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

func TestExtendStay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, _ := f.stay(t, NewStay{CheckOut: t0.Add(24 * time.Hour)})

	before := f.counts(t)
	_, err := f.s.ExtendStay(ctx, f.staff, st.ID, t0.Add(12*time.Hour))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "must be later") {
		t.Fatalf("moving check-out earlier: %v", err)
	}
	if after := f.counts(t); after != before {
		t.Errorf("rows changed: %+v -> %+v", before, after)
	}

	got, err := f.s.ExtendStay(ctx, f.staff, st.ID, t0.Add(48*time.Hour))
	if err != nil || !got.CheckOut.Equal(t0.Add(48*time.Hour)) {
		t.Fatalf("ExtendStay = %+v, %v", got, err)
	}
	if read, _ := f.s.Stay(ctx, st.ID); !read.CheckOut.Equal(t0.Add(48 * time.Hour)) {
		t.Errorf("stored check-out = %v", read.CheckOut)
	}

	f.clock.Advance(49 * time.Hour)
	_, err = f.s.ExtendStay(ctx, f.staff, st.ID, t0.Add(96*time.Hour))
	wantErr(t, err, ErrStayEnded)

	log, _ := f.s.AuditLog(ctx, 1)
	if log[0].Action != "stay.extend" || !strings.Contains(log[0].Detail, "2026-06-03T12:00:00Z") {
		t.Errorf("last audit entry = %+v", log[0])
	}
}

func TestEndStay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, _ := f.stay(t, NewStay{})
	f.clock.Advance(3 * time.Hour)
	got, err := f.s.EndStay(ctx, f.staff, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	end := t0.Add(3 * time.Hour)
	if !got.CheckOut.Equal(end) || got.EndedAt == nil || !got.EndedAt.Equal(end) || !got.Over(end) {
		t.Errorf("ended stay = %+v", got)
	}
	_, err = f.s.EndStay(ctx, f.staff, st.ID)
	wantErr(t, err, ErrStayEnded)

	live, err := f.s.ListStays(ctx, StayFilter{})
	if err != nil || len(live) != 0 {
		t.Errorf("ListStays() = %v, %v; want none", live, err)
	}
	all, err := f.s.ListStays(ctx, StayFilter{IncludeEnded: true})
	if err != nil || len(all) != 1 {
		t.Errorf("ListStays(IncludeEnded) = %v, %v", all, err)
	}
}

func TestListStays(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now, _ := f.stay(t, NewStay{Room: "1"})
	later, _ := f.stay(t, NewStay{Room: "2", CheckIn: t0.Add(24 * time.Hour), CheckOut: t0.Add(72 * time.Hour)})
	at := t0.Add(time.Hour)
	active, err := f.s.ListStays(ctx, StayFilter{ActiveAt: &at})
	if err != nil || len(active) != 1 || active[0].ID != now.ID {
		t.Errorf("active = %v, %v", active, err)
	}
	upcoming, err := f.s.ListStays(ctx, StayFilter{})
	if err != nil || len(upcoming) != 2 || upcoming[1].ID != later.ID {
		t.Errorf("current and future = %v, %v", upcoming, err)
	}
	// Ended later, it was still in house at that hour.
	f.clock.Advance(5 * time.Hour)
	if _, err := f.s.EndStay(ctx, f.staff, now.ID); err != nil {
		t.Fatal(err)
	}
	if active, _ := f.s.ListStays(ctx, StayFilter{ActiveAt: &at}); len(active) != 1 || active[0].ID != now.ID {
		t.Errorf("active an hour after noon = %v", active)
	}
	if upcoming, _ := f.s.ListStays(ctx, StayFilter{}); len(upcoming) != 1 || upcoming[0].ID != later.ID {
		t.Errorf("current and future after ending one = %v", upcoming)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	f := newFixture(t)
	for _, opts := range []Options{{MaxFailedTries: -1}, {CodeGroups: 2}, {CodeGroups: 9}, {Policies: map[string]Policy{"": {}}}} {
		if _, err := New(f.db, opts); err == nil {
			t.Errorf("New(%+v) accepted", opts)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil db) accepted")
	}
}

func TestMigrateIsIdempotentAndChecked(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := Migrate(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, f.db); err != nil {
		t.Fatal(err)
	}
}
