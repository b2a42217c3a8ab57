package webhooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"keycard/sessions"
)

// accounting is the real session store on db, as serve's accounting
// listener writes it.
func accounting(t testing.TB, db *sql.DB, clock *fakeClock) *sessions.Store {
	t.Helper()
	s, err := sessions.New(context.Background(), db, sessions.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func record(t testing.TB, s *sessions.Store, kind sessions.Kind, id string, at time.Time) sessions.Session {
	t.Helper()
	sess, err := s.Record(context.Background(), sessions.Record{Kind: kind, NAS: "ap-lobby", AcctSessionID: id, At: at,
		StayID: 3, DeviceID: 7, CallingStationID: "02-00-00-00-00-01", SessionTime: at.Sub(t0), InputOctets: 1000,
		TerminateCause: "User-Request"})
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func openTracked(t testing.TB, db *sql.DB) []int64 {
	t.Helper()
	f := &Feed{db: db}
	ids, err := f.openSessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// Sessions started and stopped at the access points become
// session.started and session.stopped, once each, across restarts, from
// the real sessions table.
func TestFeedSessionEvents(t *testing.T) {
	db, clock := openDB(t), newClock()
	acct := accounting(t, db, clock)
	record(t, acct, sessions.Start, "before", t0) // before the webhooks: not announced
	cfg := FeedConfig{Endpoints: []Endpoint{{URL: "https://pms.example/hook", Secret: testSecret,
		Events: []string{SessionStarted, SessionStopped}}}, Hotel: &fakeHotel{}, Sessions: SessionsTable{DB: db}, Now: clock.Now}
	f := newFeed(t, db, cfg)

	a := record(t, acct, sessions.Start, "a", t0.Add(time.Minute))
	follow(t, f)
	if got := eventIDs(outbox(t, db)); !slices.Equal(got, []string{"session-2-started"}) {
		t.Fatalf("outbox = %v, want session-2-started", got)
	}
	if got := openTracked(t, db); !slices.Equal(got, []int64{a.ID}) {
		t.Fatalf("tracked = %v, want [%d]", got, a.ID)
	}

	// Interim updates are no events; a stop is, once.
	record(t, acct, sessions.Interim, "a", t0.Add(5*time.Minute))
	follow(t, f)
	record(t, acct, sessions.Stop, "a", t0.Add(10*time.Minute))
	// A session that starts and stops between two looks gets both.
	record(t, acct, sessions.Start, "b", t0.Add(11*time.Minute))
	record(t, acct, sessions.Stop, "b", t0.Add(12*time.Minute))
	// A restarted follower picks up where the last one was.
	f = newFeed(t, db, cfg)
	follow(t, f)
	follow(t, f)
	f = newFeed(t, db, cfg)
	follow(t, f)

	got := outbox(t, db)
	want := []string{"session-2-started", "session-3-started", "session-3-stopped", "session-2-stopped"}
	if !slices.Equal(eventIDs(got), want) {
		t.Fatalf("outbox = %v, want %v", eventIDs(got), want)
	}
	if ids := openTracked(t, db); len(ids) != 0 {
		t.Errorf("still tracked: %v", ids)
	}
	var ev Event
	var data SessionData
	if err := json.Unmarshal([]byte(got[3].Body), &ev); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	s := data.Session
	if ev.Type != SessionStopped || !ev.OccurredAt.Equal(t0.Add(10*time.Minute)) || s.ID != a.ID || s.NAS != "ap-lobby" ||
		s.AcctSessionID != "a" || s.StayID != 3 || s.DeviceID != 7 || s.StoppedAt == nil || s.SessionSeconds != 600 ||
		s.InputOctets != 1000 || s.TerminateCause != "User-Request" || s.CallingStationID != "02-00-00-00-00-01" {
		t.Errorf("session.stopped = %s %+v", ev.Type, s)
	}
}

// Without an endpoint for session events the sessions are not followed
// (no cursor, no writes); one configured later starts from its own start,
// not from old sessions.
func TestFeedSessionsUnwanted(t *testing.T) {
	db, clock := openDB(t), newClock()
	acct := accounting(t, db, clock)
	table := SessionsTable{DB: db}
	sessionsToo := FeedConfig{Endpoints: []Endpoint{{URL: "https://pms.example/hook", Secret: testSecret}},
		Hotel: &fakeHotel{}, Sessions: table, Now: clock.Now}
	f := newFeed(t, db, sessionsToo)
	record(t, acct, sessions.Start, "a", t0)
	follow(t, f)
	if got := eventIDs(outbox(t, db)); !slices.Equal(got, []string{"session-1-started"}) {
		t.Fatalf("outbox = %v", got)
	}

	// Reconfigured without session events: the cursor and the tracked
	// sessions go.
	staysOnly := sessionsToo
	staysOnly.Endpoints = []Endpoint{{URL: "https://pms.example/hook", Secret: testSecret, Events: []string{StayCreated}}}
	f = newFeed(t, db, staysOnly)
	record(t, acct, sessions.Stop, "a", t0.Add(time.Minute))
	record(t, acct, sessions.Start, "b", t0.Add(time.Minute))
	follow(t, f)
	if _, ok, _ := readCursor(context.Background(), db, sessionsCursor); ok {
		t.Errorf("sessions cursor kept while nobody takes session events")
	}
	if ids := openTracked(t, db); len(ids) != 0 {
		t.Errorf("still tracked: %v", ids)
	}

	// Session events again: from now on.
	f = newFeed(t, db, sessionsToo)
	record(t, acct, sessions.Start, "c", t0.Add(2*time.Minute))
	follow(t, f)
	if got := eventIDs(outbox(t, db)); !slices.Equal(got, []string{"session-1-started", "session-3-started"}) {
		t.Errorf("outbox = %v, want session 3 only after session 1", got)
	}
}

func TestSessionsTableByID(t *testing.T) {
	db, clock := openDB(t), newClock()
	acct := accounting(t, db, clock)
	var ids []int64
	for i := range 1200 { // more than one query's worth of ids
		ids = append(ids, record(t, acct, sessions.Start, "s"+string(rune('A'+i%26))+time.Duration(i).String(), t0).ID)
	}
	table := SessionsTable{DB: db}
	got, err := table.SessionsByID(context.Background(), append(ids, 999999))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("SessionsByID returned %d sessions, want %d", len(got), len(ids))
	}
	last, err := table.LastSessionID(context.Background())
	if err != nil || last != ids[len(ids)-1] {
		t.Errorf("LastSessionID = %d, %v; want %d", last, err, ids[len(ids)-1])
	}
}
