package radiusd_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"keycard/radiusd"
	"keycard/radiusd/dastest"
	"keycard/sessions"
	"keycard/vouchers"
)

// fakeHotel is the hotel domain as the enforcer sees it.
type fakeHotel struct {
	mu           sync.Mutex
	stays        map[int64]*vouchers.Stay
	devices      map[int64]*vouchers.Device
	disconnected map[int64]time.Time
	audit        []vouchers.AuditEntry
}

func newFakeHotel() *fakeHotel {
	return &fakeHotel{stays: map[int64]*vouchers.Stay{}, devices: map[int64]*vouchers.Device{}, disconnected: map[int64]time.Time{}}
}

func (h *fakeHotel) addStay(id int64, checkOut time.Time, devices ...int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stays[id] = &vouchers.Stay{ID: id, CheckIn: checkOut.Add(-24 * time.Hour), CheckOut: checkOut}
	for _, d := range devices {
		h.devices[d] = &vouchers.Device{ID: d, StayID: id}
	}
}

func (h *fakeHotel) change(action, subject string, edit func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	edit()
	h.audit = append(h.audit, vouchers.AuditEntry{ID: int64(len(h.audit) + 1), Action: action, Subject: subject})
}

func (h *fakeHotel) DueForCheckout(_ context.Context, now time.Time) ([]vouchers.Departure, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []vouchers.Departure
	for _, d := range h.devices {
		if _, done := h.disconnected[d.ID]; done {
			continue
		}
		st := h.stays[d.StayID]
		switch {
		case st.Over(now):
			out = append(out, vouchers.Departure{Stay: *st, Devices: []vouchers.Device{*d}, Reason: vouchers.ReasonStayEnded})
		case d.RevokedAt != nil:
			out = append(out, vouchers.Departure{Stay: *st, Devices: []vouchers.Device{*d}, Reason: vouchers.ReasonRevoked})
		}
	}
	return out, nil
}

func (h *fakeHotel) MarkDisconnected(_ context.Context, id int64, now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.disconnected[id] = now
	return nil
}

func (h *fakeHotel) marked(id int64) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.disconnected[id]
	return t, ok
}

func (h *fakeHotel) NextCheckout(_ context.Context, after time.Time) (time.Time, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var next time.Time
	for _, d := range h.devices {
		st := h.stays[d.StayID]
		if _, done := h.disconnected[d.ID]; done || st.EndedAt != nil || !st.CheckOut.After(after) {
			continue
		}
		if next.IsZero() || st.CheckOut.Before(next) {
			next = st.CheckOut
		}
	}
	return next, !next.IsZero(), nil
}

func (h *fakeHotel) AuditHead(context.Context) (int64, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(len(h.audit)), "", nil
}

func (h *fakeHotel) AuditSince(_ context.Context, after int64, limit int) ([]vouchers.AuditEntry, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if after >= int64(len(h.audit)) {
		return nil, nil
	}
	return append([]vouchers.AuditEntry(nil), h.audit[after:]...), nil
}

func (h *fakeHotel) Stay(_ context.Context, id int64) (vouchers.Stay, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st, ok := h.stays[id]; ok {
		return *st, nil
	}
	return vouchers.Stay{}, vouchers.ErrUnknownStay
}

func (h *fakeHotel) Device(_ context.Context, id int64) (vouchers.Device, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.devices[id]; ok {
		return *d, nil
	}
	return vouchers.Device{}, vouchers.ErrUnknownDevice
}

// fakeSessions holds sessions in memory.
type fakeSessions struct {
	mu       sync.Mutex
	sessions []sessions.Session
	stops    []sessions.Record
}

func (f *fakeSessions) add(s sessions.Session) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s.ID = int64(len(f.sessions) + 1)
	f.sessions = append(f.sessions, s)
}

func (f *fakeSessions) List(_ context.Context, flt sessions.Filter) ([]sessions.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sessions.Session
	for _, s := range f.sessions {
		if (flt.StayID == 0 || s.StayID == flt.StayID) && (flt.DeviceID == 0 || s.DeviceID == flt.DeviceID) && (flt.All || s.Open()) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeSessions) Record(_ context.Context, rec sessions.Record) (sessions.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, rec)
	for i, s := range f.sessions {
		if s.NAS == rec.NAS && s.AcctSessionID == rec.AcctSessionID && rec.Kind == sessions.Stop {
			at := rec.At
			f.sessions[i].StoppedAt, f.sessions[i].TerminateCause = &at, rec.TerminateCause
			return f.sessions[i], nil
		}
	}
	return sessions.Session{}, nil
}

func (f *fakeSessions) RecordDisconnect(_ context.Context, id int64, at time.Time, outcome string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.sessions {
		if f.sessions[i].ID == id {
			f.sessions[i].DisconnectAt, f.sessions[i].DisconnectOutcome = &at, outcome
			return nil
		}
	}
	return sessions.ErrUnknownSession
}

func (f *fakeSessions) get(id int64) sessions.Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions[id-1]
}

type nasByName map[string]radiusd.NAS

func (m nasByName) ByName(name string) (radiusd.NAS, bool) { n, ok := m[name]; return n, ok }

type enforcerFixture struct {
	t        testing.TB
	hotel    *fakeHotel
	sessions *fakeSessions
	das      *dastest.Responder
	enforcer *radiusd.Enforcer
	coa      bool
	cancel   context.CancelFunc
	done     chan error
}

// newEnforcerFixture starts an enforcer whose one NAS ("ap-lobby") has its
// DAS at a test responder answering with answer.
func newEnforcerFixture(t *testing.T, answer dastest.AnswerFunc, coa bool) *enforcerFixture {
	t.Helper()
	f := &enforcerFixture{t: t, hotel: newFakeHotel(), sessions: &fakeSessions{}, das: dastest.New(t, testSecret, answer), coa: coa}
	f.setUp(t)
	return f
}

// setUp makes the enforcer, with a DAS client sending to f.das.
func (f *enforcerFixture) setUp(tb testing.TB) {
	tb.Helper()
	client, err := radiusd.NewDASClient(radiusd.DASOptions{Timeout: 50 * time.Millisecond, Retries: 1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	nas := radiusd.NAS{Name: "ap-lobby", Network: netip.MustParsePrefix("127.0.0.1/32"), Secret: testSecret,
		DASPort: f.das.Port(), CoA: f.coa, CoAPort: f.das.Port(), Profile: "rfc5176"}
	f.enforcer, err = radiusd.NewEnforcer(radiusd.EnforcerConfig{
		Hotel: f.hotel, Sessions: f.sessions, NAS: nasByName{"ap-lobby": nas}, DAS: client,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func (f *enforcerFixture) run() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan error, 1)
	go func() { f.done <- f.enforcer.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		if err := <-f.done; err != nil {
			f.t.Errorf("Run: %v", err)
		}
	})
}

func (f *enforcerFixture) session(stay, device int64, acctID string) {
	f.sessions.add(sessions.Session{NAS: "ap-lobby", AcctSessionID: acctID, StayID: stay, DeviceID: device,
		UserName: fmt.Sprintf("device-%d", device), CallingStationID: "02-00-00-00-00-01",
		NASAddress: netip.MustParseAddr("127.0.0.1"), NASIdentifier: "lobby-ap", StartedAt: time.Now()})
}

// waitMarked waits until the device is marked disconnected.
func (f *enforcerFixture) waitMarked(device int64, within time.Duration) time.Time {
	f.t.Helper()
	return f.waitMarkedB(f.t, device, within)
}

func (f *enforcerFixture) waitMarkedB(tb testing.TB, device int64, within time.Duration) time.Time {
	tb.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if at, ok := f.hotel.marked(device); ok {
			return at
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("device %d not marked disconnected within %v", device, within)
	return time.Time{}
}

func TestEnforcerDisconnectsAtCheckout(t *testing.T) {
	f := newEnforcerFixture(t, dastest.Ack, false)
	checkOut := time.Now().Add(300 * time.Millisecond)
	f.hotel.addStay(1, checkOut, 10)
	f.hotel.addStay(2, time.Now().Add(time.Hour), 20) // not due
	f.session(1, 10, "S-10")
	f.session(2, 20, "S-20")
	f.run()

	reqs := f.das.WaitRequests(1, 3*time.Second)
	if len(reqs) != 1 {
		t.Fatalf("%d Disconnect-Requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Received.Before(checkOut) {
		t.Errorf("Disconnect-Request sent %v before check-out", checkOut.Sub(r.Received))
	}
	if late := r.Received.Sub(checkOut); late > 500*time.Millisecond {
		t.Errorf("Disconnect-Request sent %v after check-out; the scheduler should fire at check-out", late)
	}
	p := r.Packet
	if p.Code != radius.CodeDisconnectRequest || rfc2866.AcctSessionID_GetString(p) != "S-10" ||
		rfc2865.UserName_GetString(p) != "device-10" || rfc2865.CallingStationID_GetString(p) != "02-00-00-00-00-01" ||
		rfc2865.NASIdentifier_GetString(p) != "lobby-ap" {
		t.Errorf("Disconnect-Request attributes: %v", p.Attributes)
	}
	f.waitMarked(10, time.Second)
	if s := f.sessions.get(1); s.DisconnectOutcome != "ack" || s.DisconnectAt == nil {
		t.Errorf("session outcome %q at %v, want ack", s.DisconnectOutcome, s.DisconnectAt)
	}
	if _, ok := f.hotel.marked(20); ok {
		t.Error("the device of a live stay was marked disconnected")
	}
}

func TestEnforcerActsOnTheChangeFeed(t *testing.T) {
	f := newEnforcerFixture(t, dastest.Ack, false)
	f.hotel.addStay(1, time.Now().Add(time.Hour), 10, 11)
	f.session(1, 10, "S-10")
	f.session(1, 11, "S-11")
	f.run()
	f.enforcer.Changed(context.Background())
	// Another process revokes device 11: the audit log grows.
	f.hotel.change("device.revoke", "device:11", func() {
		now := time.Now()
		f.hotel.devices[11].RevokedAt = &now
	})
	start := time.Now()
	f.enforcer.Changed(context.Background())
	reqs := f.das.WaitRequests(1, 2*time.Second)
	if len(reqs) != 1 || rfc2866.AcctSessionID_GetString(reqs[0].Packet) != "S-11" {
		t.Fatalf("Disconnect-Requests %d; want one for S-11", len(reqs))
	}
	if took := reqs[0].Received.Sub(start); took > 500*time.Millisecond {
		t.Errorf("revocation reached the access point after %v", took)
	}
	f.waitMarked(11, time.Second)
	if _, ok := f.hotel.marked(10); ok {
		t.Error("the stay's other device was marked disconnected")
	}
}

func TestEnforcerSessionNotFoundClosesTheSession(t *testing.T) {
	f := newEnforcerFixture(t, dastest.NAK(503), false)
	f.hotel.addStay(1, time.Now().Add(-time.Second), 10) // already past check-out
	f.session(1, 10, "S-10")
	f.run()
	f.waitMarked(10, 2*time.Second)
	s := f.sessions.get(1)
	if !strings.HasPrefix(s.DisconnectOutcome, "closed") || s.Open() {
		t.Errorf("after NAK 503: outcome %q, open %v; want closed", s.DisconnectOutcome, s.Open())
	}
}

func TestEnforcerNoAnswerIsRecorded(t *testing.T) {
	f := newEnforcerFixture(t, dastest.Silent, false)
	f.hotel.addStay(1, time.Now().Add(-time.Second), 10)
	f.session(1, 10, "S-10")
	f.run()
	f.waitMarked(10, 3*time.Second)
	if s := f.sessions.get(1); !strings.HasPrefix(s.DisconnectOutcome, "no answer after 2 attempts") {
		t.Errorf("outcome %q, want no answer after 2 attempts", s.DisconnectOutcome)
	}
	if n := len(f.das.Requests()); n != 2 {
		t.Errorf("%d requests reached the DAS, want 2 (one retry)", n)
	}
}

func TestEnforcerCoAOnExtension(t *testing.T) {
	f := newEnforcerFixture(t, dastest.Ack, true)
	f.hotel.addStay(1, time.Now().Add(time.Hour), 10)
	f.session(1, 10, "S-10")
	f.run()
	f.enforcer.Changed(context.Background()) // serve's change feed calls it once at its start
	newCheckOut := time.Now().Add(2 * time.Hour)
	f.hotel.change("stay.extend", "stay:1", func() { f.hotel.stays[1].CheckOut = newCheckOut })
	f.enforcer.Changed(context.Background())
	reqs := f.das.WaitRequests(1, 2*time.Second)
	if len(reqs) != 1 || reqs[0].Packet.Code != radius.CodeCoARequest {
		t.Fatalf("want one CoA-Request, got %d", len(reqs))
	}
	st, err := rfc2865.SessionTimeout_Lookup(reqs[0].Packet)
	if err != nil {
		t.Fatal("CoA-Request without Session-Timeout")
	}
	if want := int(time.Until(newCheckOut).Seconds()); int(st) < want-2 || int(st) > want+1 {
		t.Errorf("CoA Session-Timeout %d, want about %d (seconds to the new check-out)", st, want)
	}
}

func TestEnforcerNoCoAWhenTheNASDoesNotTakeIt(t *testing.T) {
	f := newEnforcerFixture(t, dastest.Ack, false)
	f.hotel.addStay(1, time.Now().Add(time.Hour), 10)
	f.session(1, 10, "S-10")
	f.run()
	f.enforcer.Changed(context.Background())
	f.hotel.change("stay.extend", "stay:1", func() { f.hotel.stays[1].CheckOut = time.Now().Add(2 * time.Hour) })
	f.enforcer.Changed(context.Background())
	if reqs := f.das.WaitRequests(1, 300*time.Millisecond); len(reqs) != 0 {
		t.Errorf("%d requests to a NAS that does not accept CoA", len(reqs))
	}
}

func TestEnforcerSessionSeenAfterRevocation(t *testing.T) {
	f := newEnforcerFixture(t, dastest.Ack, false)
	f.hotel.addStay(1, time.Now().Add(time.Hour), 10)
	now := time.Now()
	f.hotel.devices[10].RevokedAt = &now
	f.hotel.disconnected[10] = now // dealt with before its NAS reported it online
	f.session(1, 10, "S-late")
	f.enforcer.SessionSeen(context.Background(), f.sessions.get(1))
	reqs := f.das.WaitRequests(1, 2*time.Second)
	if len(reqs) != 1 || rfc2866.AcctSessionID_GetString(reqs[0].Packet) != "S-late" {
		t.Fatalf("a revoked device's late session was not disconnected (%d requests)", len(reqs))
	}
	// A live device's session is left alone.
	f.hotel.addStay(2, time.Now().Add(time.Hour), 20)
	f.session(2, 20, "S-fine")
	f.enforcer.SessionSeen(context.Background(), f.sessions.get(2))
	if reqs := f.das.WaitRequests(2, 300*time.Millisecond); len(reqs) != 1 {
		t.Errorf("%d requests; a live device's session was disconnected", len(reqs))
	}
}

// eventTimestamp reads Event-Timestamp.
func eventTimestamp(p *radius.Packet) (time.Time, bool) {
	a, ok := p.Lookup(55)
	if !ok || len(a) != 4 {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint32(a)), 0), true
}

func TestEnforcerDisconnectCarriesEventTimestamp(t *testing.T) {
	f := newEnforcerFixture(t, dastest.Ack, false)
	f.hotel.addStay(1, time.Now().Add(-time.Second), 10)
	f.session(1, 10, "S-10")
	f.run()
	reqs := f.das.WaitRequests(1, 2*time.Second)
	if len(reqs) != 1 {
		t.Fatal("no Disconnect-Request")
	}
	ts, ok := eventTimestamp(reqs[0].Packet)
	if !ok || time.Since(ts) > 5*time.Second {
		t.Errorf("Event-Timestamp %v (present %v); want now", ts, ok)
	}
}
