package vouchers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestStayForVoucher(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxFailedTries = 3 })
	ctx := context.Background()
	st, code := f.stay(t, NewStay{})

	before := f.counts(t)
	got, err := f.s.StayForVoucher(ctx, f.guest, strings.ToLower(code))
	if err != nil || got.ID != st.ID || got.GuestName != st.GuestName {
		t.Fatalf("StayForVoucher = %+v, %v", got, err)
	}
	if after := f.counts(t); after != before || f.issuer.calls != 0 {
		t.Errorf("signing in changed rows (%+v -> %+v) or issued (%d)", before, after, f.issuer.calls)
	}

	// Wrong codes count against the voucher Redeem uses, and lock it.
	for i := range 2 {
		_, err := f.s.StayForVoucher(ctx, f.guest, wrongCode(code, i))
		wantErr(t, err, ErrVoucherInvalid)
	}
	// A right code clears the count ...
	if _, err := f.s.StayForVoucher(ctx, f.guest, code); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		f.s.StayForVoucher(ctx, f.guest, wrongCode(code, i))
	}
	// ... so it takes three more wrong ones to lock it.
	_, err = f.s.StayForVoucher(ctx, f.guest, wrongCode(code, 2))
	wantErr(t, err, ErrVoucherLocked)
	_, err = f.s.StayForVoucher(ctx, f.guest, code)
	wantErr(t, err, ErrVoucherLocked)
	_, _, err = f.s.Redeem(ctx, f.guest, code, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrVoucherLocked)

	for _, bad := range []string{"", "CCCC-CCCC-CCCC", "nonsense"} {
		if _, err := f.s.StayForVoucher(ctx, f.guest, bad); err != ErrVoucherInvalid {
			t.Errorf("StayForVoucher(%q) = %v, want exactly ErrVoucherInvalid", bad, err)
		}
	}

	ended, endedCode := f.stay(t, NewStay{Room: "102"})
	if _, err := f.s.EndStay(ctx, f.staff, ended.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.StayForVoucher(ctx, f.guest, endedCode)
	wantErr(t, err, ErrStayEnded)
}

func TestStayForRoom(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxFailedTries = 4 })
	ctx := context.Background()
	ada, _ := f.stay(t, NewStay{Room: "204", GuestName: "Ada King Lovelace"})
	ludwig, _ := f.stay(t, NewStay{Room: "Suite 3", GuestName: "van Beethoven, Ludwig"})
	old, _ := f.stay(t, NewStay{Room: "310", GuestName: "Grace Hopper"})
	if _, err := f.s.EndStay(ctx, f.staff, old.ID); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		room, surname string
		want          int64
	}{
		{"204", "Lovelace", ada.ID},
		{" 204 ", "lovelace", ada.ID},
		{"204", "King  Lovelace", ada.ID},
		{"204", "ada king lovelace", ada.ID},
		{"suite 3", "Van Beethoven", ludwig.ID},
		{"Suite 3", "beethoven", ludwig.ID},
	} {
		got, err := f.s.StayForRoom(ctx, f.guest, tc.room, tc.surname)
		if err != nil || got.ID != tc.want {
			t.Errorf("StayForRoom(%q, %q) = stay %d, %v; want stay %d", tc.room, tc.surname, got.ID, err, tc.want)
		}
	}
	for _, tc := range []struct{ room, surname string }{
		{"204", "Ada"},          // a given name is not the surname
		{"204", "Lovelac"},      // whole words only
		{"205", "Lovelace"},     // another room
		{"310", "Hopper"},       // the stay is over
		{"204", "L"},            // too short to be anyone's surname
		{"", "Lovelace"},        // no room
		{"Suite 3", "Ludwig"},   // "Surname, Given": Ludwig is the given name
		{"204", "Lovelace Ada"}, // order matters
	} {
		_, err := f.s.StayForRoom(ctx, f.guest, tc.room, tc.surname)
		if !errors.Is(err, ErrVoucherInvalid) {
			t.Errorf("StayForRoom(%q, %q) = %v, want ErrVoucherInvalid", tc.room, tc.surname, err)
		}
	}
	// Room 204 has had three wrong names above ("Ada", "Lovelac",
	// "Lovelace Ada"; "L" is refused before any look-up); a fourth locks
	// the stay's voucher, for room sign-in and voucher code alike.
	_, err := f.s.StayForRoom(ctx, f.guest, "204", "Babbage")
	wantErr(t, err, ErrVoucherLocked)
	_, err = f.s.StayForRoom(ctx, f.guest, "204", "Lovelace")
	wantErr(t, err, ErrVoucherLocked)
	log, _ := f.s.AuditLog(ctx, 1)
	if log[0].Action != "voucher.lock" || log[0].Subject != fmt.Sprintf("stay:%d", ada.ID) || log[0].Source != f.guest.Source {
		t.Errorf("audit entry = %+v", log[0])
	}
	// The suite's guest was never guessed at and still gets in.
	if got, err := f.s.StayForRoom(ctx, f.guest, "Suite 3", "Van Beethoven"); err != nil || got.ID != ludwig.ID {
		t.Errorf("suite: %+v, %v", got, err)
	}
}

func TestEnrolGuest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, _ := f.stay(t, NewStay{MaxDevices: 1})
	d, cert, err := f.s.EnrolGuest(ctx, f.guest, st.ID, SignInRoom, Enrolment{PublicKey: newKey(t), Platform: "android", Label: "Pixel"})
	if err != nil {
		t.Fatal(err)
	}
	if d.StayID != st.ID || !cert.NotAfter.Equal(st.CheckOut) {
		t.Errorf("device %+v, NotAfter %s", d, cert.NotAfter)
	}
	log, _ := f.s.AuditLog(ctx, 1)
	if log[0].Action != "device.enrol" || !strings.Contains(log[0].Detail, "via=room") || log[0].Actor != "guest" || log[0].Source != "10.0.0.5" {
		t.Errorf("audit entry = %+v", log[0])
	}
	_, _, err = f.s.EnrolGuest(ctx, f.guest, st.ID, SignInVoucher, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrDeviceCap)
	_, _, err = f.s.EnrolGuest(ctx, f.guest, st.ID, "staff", Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrInvalid)

	devices, _ := f.s.Devices(ctx, st.ID)
	if len(devices) != 1 || !HoldsPlace(devices[0], st, f.clock.Now()) {
		t.Fatalf("devices %+v: the enrolled one should hold a place", devices)
	}
	f.clock.Advance(72 * time.Hour)
	if HoldsPlace(devices[0], st, f.clock.Now()) {
		t.Error("an expired certificate of a stay that was not extended still holds a place")
	}
}
