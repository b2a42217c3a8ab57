package webhooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"keycard/vouchers"
)

func newFeed(t testing.TB, db *sql.DB, cfg FeedConfig) *Feed {
	t.Helper()
	f, err := NewFeed(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

func follow(t testing.TB, f *Feed) {
	t.Helper()
	if err := f.Follow(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func cursorAt(t testing.TB, db *sql.DB, name string) int64 {
	t.Helper()
	pos, ok, err := readCursor(context.Background(), db, name)
	if err != nil || !ok {
		t.Fatalf("cursor %s: %d, %v, %v", name, pos, ok, err)
	}
	return pos
}

// A stay created, extended and ended by the front desk becomes three
// events and the audit head, with the stay and the exact change in each.
func TestFeedStayEvents(t *testing.T) {
	ctx := context.Background()
	db, clock := openDB(t), newClock()
	vs := hotel(t, db, clock)
	var logs logBuffer
	pokes := 0
	f := newFeed(t, db, FeedConfig{Endpoints: []Endpoint{{URL: "https://pms.example/hook", Secret: testSecret}},
		Hotel: vs, Now: clock.Now, Logger: logs.logger(), OnEnqueue: func() { pokes++ }})

	st := createStay(t, vs, clock, "101")
	clock.Advance(time.Hour)
	if _, err := vs.ExtendStay(ctx, frontDesk, st.ID, st.CheckOut.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if _, err := vs.EndStay(ctx, frontDesk, st.ID); err != nil {
		t.Fatal(err)
	}
	follow(t, f)

	got := outbox(t, db)
	if want := []string{StayCreated, StayExtended, StayEnded, AuditHead}; !slices.Equal(types(got), want) {
		t.Fatalf("outbox = %v, want %v", types(got), want)
	}
	if pokes != 1 {
		t.Errorf("OnEnqueue called %d times, want 1", pokes)
	}
	var created Event
	if err := json.Unmarshal([]byte(got[0].Body), &created); err != nil {
		t.Fatal(err)
	}
	var data StayData
	if err := json.Unmarshal(created.Data, &data); err != nil {
		t.Fatal(err)
	}
	if created.ID != "audit-1" || created.ID != got[0].EventID || !created.OccurredAt.Equal(t0) {
		t.Errorf("stay.created envelope = %+v", created)
	}
	if data.StayID != st.ID || data.Stay == nil || data.Stay.Room != "101" || data.Stay.GuestName != "Ada Lovelace" ||
		data.Audit.Action != "stay.create" || data.Audit.Actor != frontDesk.Name || data.Audit.Source != frontDesk.Source {
		t.Errorf("stay.created data = %+v", data)
	}
	// The stay is as it was when enqueued: already ended.
	if data.Stay.EndedAt == nil {
		t.Errorf("stay snapshot = %+v, want it ended", data.Stay)
	}

	count, hash, err := vs.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var head Event
	var hd AuditHeadData
	if err := json.Unmarshal([]byte(got[3].Body), &head); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(head.Data, &hd); err != nil {
		t.Fatal(err)
	}
	if hd.Entries != count || hd.Head != hash || head.ID != "audit-head-3" {
		t.Errorf("audit.head = %s %+v, want %d entries, head %s", head.ID, hd, count, hash)
	}
	if !strings.Contains(logs.String(), `msg="audit log head" entries=3 head=`+hash) {
		t.Errorf("no audit head log line for %d/%s in:\n%s", count, hash, logs.String())
	}
	if pos := cursorAt(t, db, auditCursor); pos != 3 {
		t.Errorf("audit cursor = %d, want 3", pos)
	}
}

// failingHotel fails Stay lookups while fail is set: a Follow that stops
// half-way through a batch, as a crash would.
type failingHotel struct {
	Hotel
	fail bool
}

func (h *failingHotel) Stay(ctx context.Context, id int64) (vouchers.Stay, error) {
	if h.fail {
		return vouchers.Stay{}, errors.New("disk on fire")
	}
	return h.Hotel.Stay(ctx, id)
}

// Following the same audit entries again — a restart, a crash before the
// commit, a cursor behind the outbox (a second node) — enqueues each event
// once.
func TestFeedIdempotentAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	db, clock := openDB(t), newClock()
	vs := hotel(t, db, clock)
	h := &failingHotel{Hotel: vs}
	cfg := FeedConfig{Endpoints: []Endpoint{{URL: "https://pms.example/hook", Secret: testSecret}}, Hotel: h, Now: clock.Now}
	f := newFeed(t, db, cfg)

	st := createStay(t, vs, clock, "101")
	// The first attempt fails before its commit: nothing is written, the
	// cursor stays.
	h.fail = true
	if err := f.Follow(ctx); err == nil {
		t.Fatal("Follow succeeded with a failing hotel")
	}
	if got := outbox(t, db); len(got) != 0 {
		t.Fatalf("outbox after a failed Follow = %v, want empty", types(got))
	}
	if pos := cursorAt(t, db, auditCursor); pos != 0 {
		t.Fatalf("cursor after a failed Follow = %d, want 0", pos)
	}
	h.fail = false

	// A restarted follower catches up from the stored cursor.
	f = newFeed(t, db, cfg)
	follow(t, f)
	if _, err := vs.EndStay(ctx, frontDesk, st.ID); err != nil {
		t.Fatal(err)
	}
	f = newFeed(t, db, cfg)
	follow(t, f)
	follow(t, f)
	want := []string{"audit-1", "audit-head-1", "audit-2", "audit-head-2"}
	if got := eventIDs(outbox(t, db)); !slices.Equal(got, want) {
		t.Fatalf("outbox = %v, want %v", got, want)
	}

	// A cursor behind the outbox (put back by hand: a second node, a
	// restored cursor) replays into the same rows.
	if _, err := db.Exec(`UPDATE webhook_cursors SET position = 0 WHERE name = ?`, auditCursor); err != nil {
		t.Fatal(err)
	}
	f = newFeed(t, db, cfg)
	follow(t, f)
	if got := eventIDs(outbox(t, db)); !slices.Equal(got, want) {
		t.Fatalf("outbox after a replay = %v, want %v", got, want)
	}
	var deliveries int
	if err := db.QueryRow(`SELECT COUNT(*) FROM webhook_deliveries`).Scan(&deliveries); err != nil {
		t.Fatal(err)
	}
	if deliveries != len(want) {
		t.Errorf("%d deliveries, want %d", deliveries, len(want))
	}
	if pos := cursorAt(t, db, auditCursor); pos != 2 {
		t.Errorf("cursor = %d, want 2", pos)
	}
}

func eventIDs(events []outboxEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.EventID
	}
	return out
}

// The first start follows from the current head: stays made before the
// webhooks existed are not announced.
func TestFeedStartsAtTheHead(t *testing.T) {
	db, clock := openDB(t), newClock()
	vs := hotel(t, db, clock)
	createStay(t, vs, clock, "101")
	createStay(t, vs, clock, "102")
	f := newFeed(t, db, FeedConfig{Endpoints: []Endpoint{{URL: "https://pms.example/hook", Secret: testSecret}}, Hotel: vs, Now: clock.Now})
	follow(t, f)
	if got := outbox(t, db); len(got) != 0 {
		t.Fatalf("outbox = %v, want nothing from before the start", eventIDs(got))
	}
	createStay(t, vs, clock, "103")
	follow(t, f)
	if got := eventIDs(outbox(t, db)); !slices.Equal(got, []string{"audit-3", "audit-head-3"}) {
		t.Fatalf("outbox = %v, want audit-3 and its head", got)
	}
}

// Each endpoint gets deliveries of the events it asked for only.
func TestFeedEndpointEvents(t *testing.T) {
	ctx := context.Background()
	db, clock := openDB(t), newClock()
	vs := hotel(t, db, clock)
	all := Endpoint{URL: "https://pms.example/hook", Secret: testSecret}
	ends := Endpoint{URL: "https://locks.example/hook", Secret: testSecret, Events: []string{StayEnded}}
	f := newFeed(t, db, FeedConfig{Endpoints: []Endpoint{all, ends}, Hotel: vs, Now: clock.Now})
	st := createStay(t, vs, clock, "101")
	if _, err := vs.EndStay(ctx, frontDesk, st.ID); err != nil {
		t.Fatal(err)
	}
	// A change that is not an event for other systems.
	if _, err := vs.ReissueVoucher(ctx, frontDesk, createStay(t, vs, clock, "102").ID); err != nil {
		t.Fatal(err)
	}
	follow(t, f)
	list, err := ListDeliveries(ctx, db, DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, d := range list {
		got[d.Endpoint] = append(got[d.Endpoint], d.EventID)
		if d.State != StatePending || d.Attempts != 0 {
			t.Errorf("new delivery %+v, want pending with no attempts", d)
		}
	}
	if want := []string{"audit-head-4", "audit-3", "audit-2", "audit-1"}; !slices.Equal(got[all.URL], want) {
		t.Errorf("deliveries to %s = %v, want %v", all.URL, got[all.URL], want)
	}
	if want := []string{"audit-2"}; !slices.Equal(got[ends.URL], want) {
		t.Errorf("deliveries to %s = %v, want %v", ends.URL, got[ends.URL], want)
	}
}

// fakeHotel is an audit log of device changes, without a CA.
type fakeHotel struct {
	entries []vouchers.AuditEntry
	devices map[int64]vouchers.Device
}

func (h *fakeHotel) AuditHead(context.Context) (int64, string, error) {
	if len(h.entries) == 0 {
		return 0, strings.Repeat("0", 64), nil
	}
	last := h.entries[len(h.entries)-1]
	return last.ID, last.Hash, nil
}

func (h *fakeHotel) AuditSince(_ context.Context, after int64, limit int) ([]vouchers.AuditEntry, error) {
	var out []vouchers.AuditEntry
	for _, e := range h.entries {
		if e.ID > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (h *fakeHotel) Stay(context.Context, int64) (vouchers.Stay, error) {
	return vouchers.Stay{}, vouchers.ErrUnknownStay
}

func (h *fakeHotel) Device(_ context.Context, id int64) (vouchers.Device, error) {
	d, ok := h.devices[id]
	if !ok {
		return vouchers.Device{}, vouchers.ErrUnknownDevice
	}
	return d, nil
}

func (h *fakeHotel) add(action, subject string) {
	id := int64(len(h.entries) + 1)
	h.entries = append(h.entries, vouchers.AuditEntry{ID: id, At: t0.Add(time.Duration(id) * time.Minute),
		Actor: "guest", Source: "portal", Action: action, Subject: subject, Hash: strings.Repeat(string(rune('a'+id)), 64)})
}

func TestFeedDeviceEvents(t *testing.T) {
	db, clock := openDB(t), newClock()
	revoked := t0.Add(time.Hour)
	h := &fakeHotel{devices: map[int64]vouchers.Device{
		7: {ID: 7, StayID: 3, Serial: "0a1b", Platform: "ios", Label: "Ada's iPhone", EnrolledAt: t0, NotAfter: t0.Add(48 * time.Hour),
			RevokedAt: &revoked, RevokeReason: "lost"},
	}}
	f := newFeed(t, db, FeedConfig{Endpoints: []Endpoint{{URL: "https://pms.example/hook", Secret: testSecret,
		Events: []string{DeviceEnrolled, DeviceRevoked}}}, Hotel: h, Now: clock.Now})
	h.add("device.enrol", "device:7")
	h.add("nas.add", "nas:ap-lobby")
	h.add("device.revoke", "device:7")
	h.add("device.enrol", "device:8") // gone since
	follow(t, f)
	got := outbox(t, db)
	if want := []string{DeviceEnrolled, DeviceRevoked, DeviceEnrolled}; !slices.Equal(types(got), want) {
		t.Fatalf("outbox = %v, want %v", types(got), want)
	}
	var ev Event
	var data DeviceData
	if err := json.Unmarshal([]byte(got[1].Body), &ev); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.DeviceID != 7 || data.StayID != 3 || data.Device == nil || data.Device.RevokeReason != "lost" || data.Audit.ID != 3 {
		t.Errorf("device.revoked data = %+v", data)
	}
	if err := json.Unmarshal([]byte(got[2].Body), &ev); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.DeviceID != 8 || data.Device != nil {
		t.Errorf("event of a device that is gone = %+v, want its id and no device", data)
	}
}

// Without a webhook the audit head still goes to the log on every batch,
// and the outbox stays empty.
func TestFeedWithoutEndpointsLogsTheHead(t *testing.T) {
	db, clock := openDB(t), newClock()
	h := &fakeHotel{}
	var logs logBuffer
	f := newFeed(t, db, FeedConfig{Hotel: h, Now: clock.Now, Logger: logs.logger(), BatchSize: 2})
	for range 3 {
		h.add("stay.create", "stay:1")
	}
	follow(t, f)
	if got := outbox(t, db); len(got) != 0 {
		t.Errorf("outbox = %v, want empty", types(got))
	}
	for _, want := range []string{"entries=2 head=" + h.entries[1].Hash, "entries=3 head=" + h.entries[2].Hash} {
		if !strings.Contains(logs.String(), `msg="audit log head" `+want) {
			t.Errorf("log lacks the head %s:\n%s", want, logs.String())
		}
	}
	if pos := cursorAt(t, db, auditCursor); pos != 3 {
		t.Errorf("cursor = %d, want 3", pos)
	}
}

// An audit log shorter than the cursor is reported, and following resumes
// from its head.
func TestFeedNoticesAShorterAuditLog(t *testing.T) {
	db, clock := openDB(t), newClock()
	h := &fakeHotel{}
	var logs logBuffer
	f := newFeed(t, db, FeedConfig{Hotel: h, Now: clock.Now, Logger: logs.logger()})
	for range 5 {
		h.add("stay.create", "stay:1")
	}
	follow(t, f)
	h.entries = h.entries[:2]
	follow(t, f)
	if !strings.Contains(logs.String(), "audit log is shorter than it was") || !strings.Contains(logs.String(), "entries_seen=5") {
		t.Errorf("no report of the shorter log:\n%s", logs.String())
	}
	if pos := cursorAt(t, db, auditCursor); pos != 2 {
		t.Errorf("cursor = %d, want 2 (the head)", pos)
	}
}

func TestNewFeedChecksEndpoints(t *testing.T) {
	db := openDB(t)
	for name, eps := range map[string][]Endpoint{
		"short secret":  {{URL: "https://pms.example/", Secret: []byte("short")}},
		"plain http":    {{URL: "http://pms.example/", Secret: testSecret}},
		"unknown event": {{URL: "https://pms.example/", Secret: testSecret, Events: []string{"stay.deleted"}}},
		"twice":         {{URL: "https://pms.example/", Secret: testSecret}, {URL: "https://pms.example/", Secret: testSecret}},
	} {
		if _, err := NewFeed(db, FeedConfig{Hotel: &fakeHotel{}, Endpoints: eps}); err == nil {
			t.Errorf("%s: NewFeed accepted %v", name, eps)
		} else if strings.Contains(err.Error(), string(testSecret)) {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}
}
