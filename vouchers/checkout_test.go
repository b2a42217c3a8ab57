package vouchers

import (
	"context"
	"testing"
	"time"
)

func TestDueForCheckoutReturnsEachDeviceOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	live, liveCode := f.stay(t, NewStay{Room: "301", CheckOut: t0.Add(72 * time.Hour)})
	keep, _ := f.redeem(t, liveCode)
	lost, _ := f.redeem(t, liveCode)
	leaving, leavingCode := f.stay(t, NewStay{Room: "302", CheckOut: t0.Add(24 * time.Hour)})
	l1, _ := f.redeem(t, leavingCode)
	l2, _ := f.redeem(t, leavingCode)
	early, earlyCode := f.stay(t, NewStay{Room: "303"})
	e1, _ := f.redeem(t, earlyCode)

	if due, err := f.s.DueForCheckout(ctx, f.clock.Now()); err != nil || len(due) != 0 {
		t.Fatalf("nothing is due yet: %+v, %v", due, err)
	}

	f.clock.Advance(time.Hour)
	if _, err := f.s.RevokeDevice(ctx, f.staff, lost.ID, "lost"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.EndStay(ctx, f.staff, early.ID); err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	due, err := f.s.DueForCheckout(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	assertDue(t, due, []wantDeparture{{live.ID, ReasonRevoked, []int64{lost.ID}}, {early.ID, ReasonStayEnded, []int64{e1.ID}}})
	// Not marked yet: asked again, the same answer.
	again, _ := f.s.DueForCheckout(ctx, now)
	assertDue(t, again, []wantDeparture{{live.ID, ReasonRevoked, []int64{lost.ID}}, {early.ID, ReasonStayEnded, []int64{e1.ID}}})
	for _, d := range due {
		for _, dev := range d.Devices {
			if err := f.s.MarkDisconnected(ctx, dev.ID, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.s.MarkDisconnected(ctx, lost.ID, now.Add(time.Minute)); err != nil {
		t.Errorf("marking twice: %v", err)
	}
	if due, _ := f.s.DueForCheckout(ctx, now); len(due) != 0 {
		t.Errorf("returned again after marking: %+v", due)
	}

	// Check-out time passes for room 302.
	f.clock.Advance(23 * time.Hour)
	due, _ = f.s.DueForCheckout(ctx, f.clock.Now())
	assertDue(t, due, []wantDeparture{{leaving.ID, ReasonStayEnded, []int64{l1.ID, l2.ID}}})
	if !due[0].Stay.CheckOut.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("stay = %+v", due[0].Stay)
	}
	f.s.MarkDisconnected(ctx, l1.ID, f.clock.Now())
	f.s.MarkDisconnected(ctx, l2.ID, f.clock.Now())
	if due, _ := f.s.DueForCheckout(ctx, f.clock.Now()); len(due) != 0 {
		t.Errorf("returned again after marking: %+v", due)
	}
	if d, _ := f.s.Device(ctx, keep.ID); d.RevokedAt != nil {
		t.Errorf("kept device = %+v", d)
	}
}

type wantDeparture struct {
	stay    int64
	reason  Reason
	devices []int64
}

func assertDue(t *testing.T, got []Departure, want []wantDeparture) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d departures, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Stay.ID != w.stay || g.Reason != w.reason || len(g.Devices) != len(w.devices) {
			t.Fatalf("departure %d = stay %d %q %d devices, want %+v", i, g.Stay.ID, g.Reason, len(g.Devices), w)
		}
		for j, id := range w.devices {
			if g.Devices[j].ID != id || g.Devices[j].Serial == "" {
				t.Errorf("departure %d device %d = %+v, want id %d", i, j, g.Devices[j], id)
			}
		}
	}
}
