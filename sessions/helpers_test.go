package sessions

import (
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"keycard/internal/store"
)

// t0 is "now" at the start of every test.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is safe for concurrent use: the writer reads it too.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

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

type fixture struct {
	path  string
	db    *sql.DB
	s     *Store
	clock *fakeClock
	opts  Options
}

// openDB opens (creating) the file database at path, migrated.
func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	return db
}

// newFixture is a Store on a new database file in t.TempDir().
func newFixture(t testing.TB, tweak ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "keycard.db"), clock: &fakeClock{t: t0}}
	f.db = openDB(t, f.path)
	f.opts = Options{Now: f.clock.Now, InterimInterval: 5 * time.Minute}
	for _, fn := range tweak {
		fn(&f.opts)
	}
	f.s = f.open(t, f.db)
	return f
}

// open starts another Store with the fixture's options on db.
func (f *fixture) open(t testing.TB, db *sql.DB) *Store {
	t.Helper()
	s, err := New(context.Background(), db, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// reopen is the next process: a new handle on the same file and a Store
// on it. The old Store is left running, as a crash would leave its data.
func (f *fixture) reopen(t testing.TB) *Store {
	t.Helper()
	return f.open(t, openDB(t, f.path))
}

func (f *fixture) record(t testing.TB, rec Record) Session {
	t.Helper()
	sess, err := f.s.Record(context.Background(), rec)
	if err != nil {
		t.Fatalf("Record(%v %s/%s): %v", rec.Kind, rec.NAS, rec.AcctSessionID, err)
	}
	return sess
}

func (f *fixture) get(t testing.TB, id int64) Session {
	t.Helper()
	sess, err := f.s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func (f *fixture) list(t testing.TB, flt Filter) []Session {
	t.Helper()
	ss, err := f.s.List(context.Background(), flt)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// rec is a record of session "s1" at "ap-lobby", at t0 plus at, of a
// session that started at t0 (a Start says nothing of that: it has no
// session time).
func rec(kind Kind, at time.Duration, in, out uint64) Record {
	r := Record{
		Kind: kind, NAS: "ap-lobby", AcctSessionID: "s1", At: t0.Add(at),
		StayID: 7, DeviceID: 70,
		UserName: "device-70", CallingStationID: "02-00-00-00-00-70", CalledStationID: "0A-00-00-00-00-01:Hotel",
		FramedIP:     netip.MustParseAddr("10.1.0.70"),
		NASAddress:   netip.MustParseAddr("192.0.2.10"),
		NASIPAddress: netip.MustParseAddr("192.0.2.10"), NASIdentifier: "lobby",
		SessionTime: at, InputOctets: in, OutputOctets: out, InputPackets: in / 1000, OutputPackets: out / 1000,
	}
	if kind == Start {
		r.SessionTime = 0
	}
	return r
}

func stop(at time.Duration, in, out uint64, cause string) Record {
	r := rec(Stop, at, in, out)
	r.TerminateCause = cause
	return r
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func ptr(t time.Time) *time.Time { return &t }
