package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"keycard/vouchers"
)

// A guesser at one address is slowed after SlowAfter wrong codes and
// blocked after BlockAfter, before vouchers would lock the voucher, and
// the real guest, at another address, gets in meanwhile.
func TestRateLimitSlowsThenBlocksOneAddress(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st, code := f.stay("Ada Lovelace", 3)
	const guesser = "203.0.113.50:40000"
	try := func(n int) *httptest.ResponseRecorder {
		return f.enrol(wrongCode(code, n), "android", "", guesser)
	}

	// Two wrong codes: just "not right".
	for i := range 2 {
		wantStatus(t, try(i), http.StatusUnprocessableEntity, "wrong code")
	}
	// The third: not right, and now wait 10 seconds.
	w := try(2)
	wantStatus(t, w, http.StatusTooManyRequests, "third wrong code")
	wantBody(t, w, "Please wait 10 seconds")
	if w.Header().Get("Retry-After") != "10" {
		t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
	}
	// Trying again at once is refused without looking at the code (even
	// the right one), and costs the voucher nothing.
	f.clock.Advance(4 * time.Second)
	wantStatus(t, f.enrol(code, "android", "", guesser), http.StatusTooManyRequests, "right code while slowed")
	wantBody(t, try(3), "Please wait 6 seconds")
	f.clock.Advance(6 * time.Second)
	// The fourth wrong one doubles the wait.
	w = try(4)
	wantStatus(t, w, http.StatusTooManyRequests, "fourth wrong code")
	wantBody(t, w, "Please wait 20 seconds")
	f.clock.Advance(20 * time.Second)
	// The fifth blocks the address.
	w = try(5)
	wantStatus(t, w, http.StatusTooManyRequests, "fifth wrong code")
	wantBody(t, w, "Too many wrong tries from this device")
	f.clock.Advance(10 * time.Minute)
	wantBody(t, f.enrol(code, "android", "", guesser), "Too many wrong tries from this device")
	// Another address in the same IPv6 /64 counts as the same device
	// (guessing at another stay's voucher here).
	_, other := f.stay("Grace Hopper", 3)
	v6 := "[2001:db8:1:2::10]:5000"
	for i := range 5 {
		f.enrol(wrongCode(other, i), "android", "", v6)
		f.clock.Advance(time.Minute)
	}
	wantBody(t, f.enrol(other, "android", "", "[2001:db8:1:2:aaaa::99]:5000"), "Too many wrong tries from this device")

	// The voucher took 5 wrong tries (below its lock at 10) and the real
	// guest, from the hotel room, gets in.
	w = f.enrol(code, "android", "", guestAddr)
	wantStatus(t, w, http.StatusOK, "real guest from another address")
	if devices, _ := f.vs.Devices(ctx, st.ID); len(devices) != 1 {
		t.Errorf("devices %+v", devices)
	}

	// Once the block has run out, the guesser's address may try again.
	f.clock.Advance(15 * time.Minute)
	wantStatus(t, try(6), http.StatusUnprocessableEntity, "after the block")
}

// The limiter alone, with its clock.
func TestLimiter(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	cfg, err := RateLimit{SlowAfter: 2, BlockAfter: 3, Delay: time.Second, Window: time.Minute, MaxAddresses: 3}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	l := newLimiter(cfg, clock.Now)
	a := netip.MustParseAddr("192.0.2.1")
	if v := l.wrong(a); !v.ok() {
		t.Fatalf("first wrong try: %+v", v)
	}
	if v := l.wrong(a); v.ok() || v.blocked || v.wait != time.Second {
		t.Fatalf("second: %+v", v)
	}
	clock.Advance(time.Second)
	if v := l.allow(a); !v.ok() {
		t.Fatalf("after the wait: %+v", v)
	}
	if v := l.wrong(a); !v.blocked || v.wait != time.Minute {
		t.Fatalf("third: %+v", v)
	}
	// A right code does not clear the count (see limiter).
	clock.Advance(59 * time.Second)
	if v := l.allow(a); !v.blocked {
		t.Fatalf("still blocked: %+v", v)
	}
	clock.Advance(time.Second)
	if v := l.allow(a); !v.ok() {
		t.Fatalf("after the window: %+v", v)
	}
	// Bounded: a fourth address pushes out the one whose last wrong try
	// is oldest.
	for i, s := range []string{"192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"} {
		l.wrong(netip.MustParseAddr(s))
		clock.Advance(time.Duration(i+1) * time.Millisecond)
	}
	if n := l.len(); n != 3 {
		t.Errorf("limiter holds %d addresses, bound 3", n)
	}
	if v := l.allow(netip.MustParseAddr("192.0.2.2")); !v.ok() {
		t.Errorf("the oldest entry was kept")
	}

	if _, err := (RateLimit{SlowAfter: 5, BlockAfter: 2}).withDefaults(); err == nil {
		t.Error("BlockAfter below SlowAfter accepted")
	}
}

// A guesser who holds a valid code of their own cannot wash the count
// away between guesses at somebody else's voucher.
func TestRightCodeDoesNotResetTheLimit(t *testing.T) {
	f := newFixture(t)
	_, mine := f.stay("Mallory", 50)
	_, theirs := f.stay("Ada Lovelace", 3)
	const from = "203.0.113.77:1000"
	for i := range 2 {
		f.enrol(wrongCode(theirs, i), "other", "", from)
		wantStatus(t, f.enrol(mine, "other", "", from), http.StatusOK, "own code")
	}
	wantStatus(t, f.enrol(wrongCode(theirs, 2), "other", "", from), http.StatusTooManyRequests, "third guess")
	st, err := f.vs.StayForVoucher(context.Background(), vouchers.Actor{Name: "guest", Source: "test"}, theirs)
	if err != nil || st.GuestName != "Ada Lovelace" {
		t.Errorf("the real guest's voucher: %v", err)
	}
}
