package webhooks

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"keycard/internal/store"
	"keycard/sessions"
	"keycard/vouchers"
)

// t0 is "now" at the start of every test.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testSecret is an endpoint secret of the minimum length.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// fakeClock is safe for concurrent use: attempts read it in goroutines.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openDB is a new database file with every table the webhooks touch.
func openDB(t testing.TB) *sql.DB {
	t.Helper()
	return openDBAt(t, filepath.Join(t.TempDir(), "keycard.db"))
}

func openDBAt(t testing.TB, path string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, m := range []func(context.Context, *sql.DB) error{vouchers.Migrate, sessions.Migrate, Migrate} {
		if err := m(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// hotel is a vouchers store on db with the test clock.
func hotel(t testing.TB, db *sql.DB, clock *fakeClock) *vouchers.Store {
	t.Helper()
	vs, err := vouchers.New(db, vouchers.Options{
		Policies: map[string]vouchers.Policy{"standard": {Name: "standard"}},
		Now:      clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

var frontDesk = vouchers.Actor{Name: "staff:alice", Source: "10.0.0.5"}

func createStay(t testing.TB, vs *vouchers.Store, clock *fakeClock, room string) vouchers.Stay {
	t.Helper()
	st, _, err := vs.CreateStay(context.Background(), frontDesk, vouchers.NewStay{
		Room: room, GuestName: "Ada Lovelace", CheckIn: clock.Now(), CheckOut: clock.Now().Add(48 * time.Hour),
		MaxDevices: 2, Policy: "standard",
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// outboxEvent is one row of webhook_events.
type outboxEvent struct {
	EventID, Type, Body string
}

// outbox is every event in the outbox, in enqueue order.
func outbox(t testing.TB, db *sql.DB) []outboxEvent {
	t.Helper()
	rows, err := db.Query(`SELECT event_id, type, body FROM webhook_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxEvent
	for rows.Next() {
		var e outboxEvent
		if err := rows.Scan(&e.EventID, &e.Type, &e.Body); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func types(events []outboxEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

// received is one request a test receiver got.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is an httptest server whose answer the test sets.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, r *http.Request) int // the status for the n-th request, from 1
}

func newReceiver(t testing.TB, answer func(n int, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{Header: r.Header.Clone(), Body: body})
		n := len(rc.got)
		answer := rc.answer
		rc.mu.Unlock()
		status := http.StatusOK
		if answer != nil {
			status = answer(n, r)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) endpoint(events ...string) Endpoint {
	return Endpoint{URL: rc.URL + "/keycard", Secret: testSecret, Events: events}
}

// logBuffer collects log lines, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
