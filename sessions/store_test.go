package sessions

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"keycard/internal/store"
)

// TestRecordOrderAndRepeats feeds one session's records in the orders and
// repetitions a NAS and a lossy network produce, and checks the session
// the store returns, the database holds and a restarted Keycard loads.
func TestRecordOrderAndRepeats(t *testing.T) {
	m := time.Minute
	stopEarly := stop(10*m, 300, 400, "User-Request")
	stopEarly.SessionTime = 9 * m // says the session started at t0+1m
	tests := []struct {
		name        string
		records     []Record
		open        bool
		in, out     uint64
		sessionTime time.Duration
		started     time.Time
		updated     time.Time
		stopped     *time.Time
		cause       string
	}{
		{"start interim stop",
			[]Record{rec(Start, 0, 0, 0), rec(Interim, 5*m, 100, 200), stop(10*m, 300, 400, "User-Request")},
			false, 300, 400, 10 * m, t0, t0.Add(10 * m), ptr(t0.Add(10 * m)), "User-Request"},
		{"start and interim: open",
			[]Record{rec(Start, 0, 0, 0), rec(Interim, 5*m, 100, 200)},
			true, 100, 200, 5 * m, t0, t0.Add(5 * m), nil, ""},
		{"stop before start makes a closed session the start does not reopen",
			[]Record{stopEarly, rec(Start, 0, 0, 0)},
			false, 300, 400, 9 * m, t0, t0.Add(10 * m), ptr(t0.Add(10 * m)), "User-Request"},
		{"interim after stop merges counters and stays closed",
			[]Record{rec(Start, 0, 0, 0), stop(10*m, 300, 400, "User-Request"), rec(Interim, 5*m, 100, 200), rec(Interim, 11*m, 500, 600)},
			false, 500, 600, 11 * m, t0, t0.Add(11 * m), ptr(t0.Add(10 * m)), "User-Request"},
		{"second start merges",
			[]Record{rec(Start, 0, 0, 0), rec(Interim, 5*m, 100, 200), rec(Start, 0, 0, 0)},
			true, 100, 200, 5 * m, t0, t0.Add(5 * m), nil, ""},
		{"duplicate stop keeps the first stop",
			[]Record{rec(Start, 0, 0, 0), stop(10*m, 300, 400, "User-Request"), stop(12*m, 350, 450, "Lost-Carrier")},
			false, 350, 450, 12 * m, t0, t0.Add(12 * m), ptr(t0.Add(10 * m)), "User-Request"},
		{"retransmitted interim is not counted twice",
			[]Record{rec(Start, 0, 0, 0), rec(Interim, 5*m, 100, 200), rec(Interim, 5*m, 100, 200), rec(Interim, 5*m, 100, 200)},
			true, 100, 200, 5 * m, t0, t0.Add(5 * m), nil, ""},
		{"reordered interims never go backwards",
			[]Record{rec(Start, 0, 0, 0), rec(Interim, 10*m, 300, 400), rec(Interim, 5*m, 100, 200)},
			true, 300, 400, 10 * m, t0, t0.Add(10 * m), nil, ""},
		{"interim first: started at At minus Acct-Session-Time",
			[]Record{rec(Interim, 5*m, 100, 200)},
			true, 100, 200, 5 * m, t0, t0.Add(5 * m), nil, ""},
		{"stop only",
			[]Record{stop(10*m, 300, 400, "Idle-Timeout")},
			false, 300, 400, 10 * m, t0, t0.Add(10 * m), ptr(t0.Add(10 * m)), "Idle-Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			var got Session
			for _, r := range tt.records {
				got = f.record(t, r)
			}
			check := func(where string, s Session) {
				t.Helper()
				if s.Open() != tt.open || s.InputOctets != tt.in || s.OutputOctets != tt.out ||
					s.SessionTime != tt.sessionTime || !s.StartedAt.Equal(tt.started) || !s.UpdatedAt.Equal(tt.updated) ||
					!sameTime(s.StoppedAt, tt.stopped) || s.TerminateCause != tt.cause {
					t.Errorf("%s: open=%v in=%d out=%d time=%s started=%s updated=%s stopped=%v cause=%q\nwant open=%v in=%d out=%d time=%s started=%s updated=%s stopped=%v cause=%q",
						where, s.Open(), s.InputOctets, s.OutputOctets, s.SessionTime, s.StartedAt, s.UpdatedAt, s.StoppedAt, s.TerminateCause,
						tt.open, tt.in, tt.out, tt.sessionTime, tt.started, tt.updated, tt.stopped, tt.cause)
				}
			}
			check("Record", got)
			check("Get", f.get(t, got.ID))
			all := f.list(t, Filter{All: true})
			if len(all) != 1 {
				t.Fatalf("%d sessions in the database, want 1", len(all))
			}
			online := f.s.Online(0, 0)
			if tt.open != (len(online) == 1) {
				t.Fatalf("Online = %d sessions, want open=%v", len(online), tt.open)
			}
			if tt.open {
				check("Online", online[0])
				if !same(&online[0], &all[0]) {
					t.Errorf("cache and database differ:\n%+v\n%+v", online[0], all[0])
				}
			}
			// A restarted Keycard sees the same.
			s2 := f.reopen(t)
			if on := s2.Online(0, 0); len(on) != len(online) || (tt.open && !same(&on[0], &online[0])) {
				t.Errorf("after restart Online = %+v, want %+v", on, online)
			}
		})
	}
}

func TestGigawordCountersRoundTrip(t *testing.T) {
	f := newFixture(t)
	const fiveGB = 5_000_000_000 // more than 2^32: the NAS sent Acct-Input-Gigawords
	r := rec(Interim, time.Hour, fiveGB, 3*fiveGB)
	r.InputPackets, r.OutputPackets = 1<<40, 1<<62
	got := f.record(t, r)
	r2 := r
	r2.AcctSessionID = "s2"
	f.record(t, r2)

	for where, s := range map[string]Session{"Record": got, "Get": f.get(t, got.ID), "Online": f.s.Online(0, 0)[0], "restart": f.reopen(t).Online(0, 0)[0]} {
		if s.InputOctets != fiveGB || s.OutputOctets != 3*fiveGB || s.InputPackets != 1<<40 || s.OutputPackets != 1<<62 {
			t.Errorf("%s: counters %d %d %d %d, want %d %d %d %d", where,
				s.InputOctets, s.OutputOctets, s.InputPackets, s.OutputPackets, uint64(fiveGB), uint64(3*fiveGB), uint64(1<<40), uint64(1<<62))
		}
	}
	u, err := f.s.StayUsage(context.Background(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if u.InputOctets != 2*fiveGB || u.OutputOctets != 6*fiveGB {
		t.Errorf("StayUsage octets = %d/%d, want %d/%d", u.InputOctets, u.OutputOctets, uint64(2*fiveGB), uint64(6*fiveGB))
	}
	// Past what the column holds (a broken NAS): kept as the largest value.
	r3 := rec(Interim, time.Hour, 1<<63+5, 0)
	r3.AcctSessionID = "s3"
	if got := f.record(t, r3); got.InputOctets != 1<<63-1 || f.get(t, got.ID).InputOctets != 1<<63-1 {
		t.Errorf("huge counter = %d, want %d", got.InputOctets, uint64(1<<63-1))
	}
}

func TestUnknownStayIsKeptAndFilledIn(t *testing.T) {
	f := newFixture(t)
	r := rec(Start, 0, 0, 0)
	r.StayID, r.DeviceID = 0, 0
	got := f.record(t, r)
	if got.StayID != 0 || got.DeviceID != 0 {
		t.Fatalf("stay/device = %d/%d, want unknown", got.StayID, got.DeviceID)
	}
	var nulls int
	if err := f.db.QueryRow(`SELECT COUNT(*) FROM sessions WHERE stay_id IS NULL AND device_id IS NULL`).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 1 {
		t.Fatalf("%d rows with NULL stay and device, want 1", nulls)
	}
	if on := f.s.Online(0, 0); len(on) != 1 {
		t.Fatalf("Online(0, 0) = %d sessions, want the unknown one", len(on))
	}
	if d := f.s.OnlineDevices(7, t0); len(d) != 0 {
		t.Fatalf("OnlineDevices before the stay is known = %v", d)
	}

	// A later record knows whose it is (the Class came back) ...
	f.record(t, rec(Interim, 5*time.Minute, 10, 20))
	// ... and a later one that does not know changes nothing.
	r = rec(Interim, 6*time.Minute, 30, 40)
	r.StayID, r.DeviceID = 0, 0
	got = f.record(t, r)
	if got.StayID != 7 || got.DeviceID != 70 || f.get(t, got.ID).StayID != 7 {
		t.Errorf("stay/device = %d/%d, want 7/70", got.StayID, got.DeviceID)
	}
	if on := f.s.Online(7, 70); len(on) != 1 || on[0].ID != got.ID {
		t.Errorf("Online(7, 70) = %+v", on)
	}
	// A record that names another stay does not move the session.
	r = rec(Interim, 7*time.Minute, 50, 60)
	r.StayID = 8
	if got = f.record(t, r); got.StayID != 7 {
		t.Errorf("stay = %d after a record naming stay 8, want 7", got.StayID)
	}
}

func TestCloseNAS(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	at := t0.Add(30 * time.Minute)
	open := func(nas, id string, when time.Duration) Session {
		r := rec(Start, when, 0, 0)
		r.NAS, r.AcctSessionID = nas, id
		return f.record(t, r)
	}
	a1 := open("ap-lobby", "a1", 0)
	a2 := open("ap-lobby", "a2", time.Minute)
	a3 := open("ap-lobby", "a3", 2*time.Minute)
	r := stop(3*time.Minute, 10, 20, "User-Request")
	r.AcctSessionID = "a3"
	f.record(t, r)
	b1 := open("ap-pool", "b1", 0)
	late := open("ap-lobby", "after-reboot", 31*time.Minute) // heard from after the Accounting-On

	n, err := f.s.CloseNAS(ctx, "ap-lobby", at, "NAS-Reboot")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("CloseNAS closed %d, want 2", n)
	}
	for _, s := range []Session{a1, a2} {
		got := f.get(t, s.ID)
		if got.Open() || !got.StoppedAt.Equal(at) || got.TerminateCause != "NAS-Reboot" {
			t.Errorf("%s: stopped=%v cause=%q, want closed at %s by NAS-Reboot", s.AcctSessionID, got.StoppedAt, got.TerminateCause, at)
		}
	}
	if got := f.get(t, a3.ID); !got.StoppedAt.Equal(t0.Add(3*time.Minute)) || got.TerminateCause != "User-Request" {
		t.Errorf("the session closed before was changed: %v %q", got.StoppedAt, got.TerminateCause)
	}
	var ids []string
	for _, s := range f.s.Online(0, 0) {
		ids = append(ids, s.AcctSessionID)
	}
	if want := []string{b1.AcctSessionID, late.AcctSessionID}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("Online = %v, want %v", ids, want)
	}
	if got := f.list(t, Filter{}); len(got) != 2 {
		t.Errorf("List of open sessions = %d, want 2", len(got))
	}
	// The retransmitted Accounting-On closes nothing more.
	if n, err := f.s.CloseNAS(ctx, "ap-lobby", at, "NAS-Reboot"); err != nil || n != 0 {
		t.Errorf("second CloseNAS = %d, %v; want 0", n, err)
	}
	// A Stop for a closed session still merges its counters.
	r = stop(29*time.Minute, 1000, 2000, "Lost-Carrier")
	r.AcctSessionID = "a1"
	if got := f.record(t, r); got.InputOctets != 1000 || got.TerminateCause != "NAS-Reboot" || !got.StoppedAt.Equal(at) {
		t.Errorf("late Stop: %+v", got)
	}
}

// TestOneBatch puts operations into one transaction in a known order:
// each sees the ones before it, as if they had run one by one.
func TestOneBatch(t *testing.T) {
	f := newFixture(t)
	s, err := newStore(context.Background(), f.db, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	onNAS := func(r Record, nas, id string) Record { r.NAS, r.AcctSessionID = nas, id; return r }
	at := t0.Add(20 * time.Minute)
	ops := []*op{
		submit(s, &op{kind: opRecord, rec: onNAS(rec(Start, 0, 0, 0), "ap-lobby", "x")}),
		submit(s, &op{kind: opRecord, rec: onNAS(rec(Interim, 5*time.Minute, 100, 200), "ap-lobby", "x")}),
		submit(s, &op{kind: opRecord, rec: onNAS(rec(Interim, 5*time.Minute, 100, 200), "ap-lobby", "x")}),
		submit(s, &op{kind: opCloseNAS, nas: "ap-lobby", at: at, text: "NAS-Reboot"}),
		submit(s, &op{kind: opRecord, rec: onNAS(rec(Interim, 25*time.Minute, 300, 400), "ap-lobby", "x")}),
		submit(s, &op{kind: opRecord, rec: onNAS(rec(Start, 21*time.Minute, 0, 0), "ap-lobby", "y")}),
		submit(s, &op{kind: opRecord, rec: onNAS(rec(Start, 0, 0, 0), "ap-pool", "x")}),
		submit(s, &op{kind: opDisconnect, id: 99, at: at, text: "ack"}),
	}
	go s.run()
	t.Cleanup(func() { s.Close() })
	res := make([]opResult, len(ops))
	for i, o := range ops {
		res[i] = <-o.done
	}
	if c := s.commits.Load(); c != 1 {
		t.Errorf("%d transactions, want 1", c)
	}
	for i, r := range res[:7] {
		if r.err != nil {
			t.Fatalf("op %d: %v", i, r.err)
		}
	}
	wantErr(t, res[7].err, ErrUnknownSession)
	if res[3].n != 1 {
		t.Errorf("CloseNAS closed %d, want 1 (x at ap-lobby)", res[3].n)
	}
	x := res[4].session
	if x.Open() || x.InputOctets != 300 || !x.StoppedAt.Equal(at) || x.ID == 0 {
		t.Errorf("x at ap-lobby = %+v; want closed at the reboot with the later counters", x)
	}
	var got []string
	for _, sess := range s.Online(0, 0) {
		got = append(got, sess.NAS+"/"+sess.AcctSessionID)
	}
	if fmt.Sprint(got) != "[ap-pool/x ap-lobby/y]" {
		t.Errorf("Online = %v", got)
	}
	if n := len(f.list(t, Filter{All: true})); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}

// submit queues o without waiting for it.
func submit(s *Store, o *op) *op {
	o.done = make(chan opResult, 1)
	s.queue <- o
	return o
}

func TestFailedCommitAnswersEveryoneAndLeavesTheCache(t *testing.T) {
	f := newFixture(t)
	before := f.record(t, rec(Start, 0, 0, 0))
	if _, err := f.db.Exec(`CREATE TRIGGER poison BEFORE INSERT ON sessions WHEN NEW.acct_session_id = 'poison'
		BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`); err != nil {
		t.Fatal(err)
	}
	s, err := newStore(context.Background(), f.db, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	poison := rec(Start, time.Minute, 0, 0)
	poison.AcctSessionID = "poison"
	other := rec(Start, time.Minute, 0, 0)
	other.AcctSessionID = "other"
	ops := []*op{
		submit(s, &op{kind: opRecord, rec: rec(Interim, 5*time.Minute, 100, 200)}),
		submit(s, &op{kind: opRecord, rec: poison}),
		submit(s, &op{kind: opRecord, rec: other}),
	}
	go s.run()
	t.Cleanup(func() { s.Close() })
	for i, o := range ops {
		if r := <-o.done; r.err == nil || !strings.Contains(r.err.Error(), "disk on fire") {
			t.Errorf("op %d: error %v, want the commit's", i, r.err)
		}
	}
	if on := s.Online(0, 0); len(on) != 1 || !same(&on[0], &before) {
		t.Errorf("cache changed by a failed batch: %+v", on)
	}
	if all := f.list(t, Filter{All: true}); len(all) != 1 || all[0].InputOctets != 0 {
		t.Errorf("database changed by a failed batch: %+v", all)
	}
	// Once the cause is gone the same records go in.
	if _, err := f.db.Exec(`DROP TRIGGER poison`); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Record(context.Background(), rec(Interim, 5*time.Minute, 100, 200)); err != nil || got.InputOctets != 100 {
		t.Errorf("retry = %+v, %v", got, err)
	}
}

// TestGroupCommit holds the database's write lock (another process
// writing) while 200 records arrive at once: they must go in a handful of
// transactions, not 200.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	lock, err := f.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			r := rec(Start, 0, 0, 0)
			r.AcctSessionID = fmt.Sprintf("s%03d", i)
			r.DeviceID = int64(100 + i)
			_, err := f.s.Record(ctx, r)
			errs <- err
		})
	}
	// Wait until every record is either in the writer's hands (its batch
	// is stuck on the lock) or queued behind it.
	deadline := time.Now().Add(10 * time.Second)
	for int64(len(f.s.queue))+f.s.received.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d records queued and %d taken by the writer", len(f.s.queue), f.s.received.Load())
		}
		runtime.Gosched()
	}
	if _, err := lock.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c := f.s.commits.Load(); c > 3 {
		t.Errorf("%d records took %d transactions, want at most 3", n, c)
	}
	if got := len(f.s.Online(7, 0)); got != n {
		t.Errorf("Online = %d sessions, want %d", got, n)
	}
	if got := len(f.list(t, Filter{})); got != n {
		t.Errorf("List = %d sessions, want %d", got, n)
	}
}

// TestConcurrentRecords sends every session's records from many
// goroutines in a shuffled order, with readers running, and checks that
// nothing is lost or counted twice.
func TestConcurrentRecords(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *Options) { o.MaxBatch = 16 })
	const sessions, interims = 20, 8
	var all []Record
	for i := range sessions {
		id := fmt.Sprintf("c%02d", i)
		for j := 0; j <= interims+1; j++ {
			var r Record
			switch j {
			case 0:
				r = rec(Start, 0, 0, 0)
			case interims + 1:
				r = stop(time.Duration(j)*time.Minute, uint64(j*1000), uint64(j*2000), "User-Request")
			default:
				r = rec(Interim, time.Duration(j)*time.Minute, uint64(j*1000), uint64(j*2000))
			}
			r.AcctSessionID, r.DeviceID = id, int64(100+i)
			r.FramedIP = netip.AddrFrom4([4]byte{10, 1, 1, byte(i)})
			all = append(all, r, r) // and each retransmitted once
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })

	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			f.s.Online(7, 0)
			f.s.OnlineDevices(7, t0)
			f.s.ByAddress(netip.AddrFrom4([4]byte{10, 1, 1, 3}))
			if _, err := f.s.List(ctx, Filter{StayID: 7, All: true}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var wg sync.WaitGroup
	work := make(chan Record)
	for range 16 {
		wg.Go(func() {
			for r := range work {
				if _, err := f.s.Record(ctx, r); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, r := range all {
		work <- r
	}
	close(work)
	wg.Wait()
	close(done)
	readers.Wait()

	got := f.list(t, Filter{All: true})
	if len(got) != sessions {
		t.Fatalf("%d sessions, want %d", len(got), sessions)
	}
	last := interims + 1
	for _, s := range got {
		if s.Open() || s.InputOctets != uint64(last*1000) || s.OutputOctets != uint64(last*2000) ||
			!s.StartedAt.Equal(t0) || !s.StoppedAt.Equal(t0.Add(time.Duration(last)*time.Minute)) {
			t.Errorf("%s: %+v", s.AcctSessionID, s)
		}
	}
	if on := f.s.Online(0, 0); len(on) != 0 {
		t.Errorf("%d sessions still online", len(on))
	}
	u, err := f.s.StayUsage(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if u.Sessions != sessions || u.InputOctets != uint64(sessions*last*1000) {
		t.Errorf("usage = %+v", u)
	}
	t.Logf("%d records in %d transactions", len(all), f.s.commits.Load())
}

func TestStaleAfterTwoIntervals(t *testing.T) {
	f := newFixture(t) // interim interval 5m
	got := f.record(t, rec(Start, 0, 0, 0))
	isStale := func() (bool, bool, bool, int) {
		return f.s.Online(0, 0)[0].Stale, f.get(t, got.ID).Stale, f.list(t, Filter{})[0].Stale, len(f.s.OnlineDevices(7, f.clock.Now()))
	}
	if on, g, l, devs := isStale(); on || g || l || devs != 1 {
		t.Fatalf("fresh session: stale %v %v %v, %d devices online", on, g, l, devs)
	}
	f.clock.Advance(10 * time.Minute) // exactly two intervals: not yet
	if on, g, l, devs := isStale(); on || g || l || devs != 1 {
		t.Fatalf("after two intervals: stale %v %v %v, %d devices online", on, g, l, devs)
	}
	f.clock.Advance(time.Second)
	if on, g, l, devs := isStale(); !on || !g || !l || devs != 0 {
		t.Fatalf("after two intervals and a second: stale %v %v %v, %d devices online", on, g, l, devs)
	}
	if !f.s.Online(7, 70)[0].Open() {
		t.Fatal("a stale session must stay open")
	}
	// The NAS speaks again.
	f.record(t, rec(Interim, 10*time.Minute+time.Second, 5, 5))
	if on, _, _, devs := isStale(); on || devs != 1 {
		t.Fatalf("after a new interim: stale %v, %d devices online", on, devs)
	}
}

func TestStayUsage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.record(t, stop(time.Hour, 1000, 2000, "User-Request")) // s1, closed
	r := rec(Interim, 30*time.Minute, 10, 20)
	r.AcctSessionID = "s2"
	f.record(t, r)
	r = rec(Interim, 30*time.Minute, 5000, 5000)
	r.AcctSessionID, r.StayID = "s3", 8
	f.record(t, r)

	u, err := f.s.StayUsage(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := Usage{Sessions: 2, Online: 1, TimeOnline: 90 * time.Minute, InputOctets: 1010, OutputOctets: 2020, InputPackets: 1, OutputPackets: 2}
	if u != want {
		t.Errorf("StayUsage(7) = %+v, want %+v", u, want)
	}
	if u, err := f.s.StayUsage(ctx, 99); err != nil || u != (Usage{}) {
		t.Errorf("StayUsage of a stay without sessions = %+v, %v", u, err)
	}
}

func TestRecordDisconnect(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	wantErr(t, f.s.RecordDisconnect(ctx, 42, t0, "ack"), ErrUnknownSession)
	_, err := f.s.Get(ctx, 42)
	wantErr(t, err, ErrUnknownSession)

	s := f.record(t, rec(Start, 0, 0, 0))
	at := t0.Add(time.Minute)
	if err := f.s.RecordDisconnect(ctx, s.ID, at, "nak: session context not found"); err != nil {
		t.Fatal(err)
	}
	// An older answer arriving late does not replace the newer one.
	if err := f.s.RecordDisconnect(ctx, s.ID, t0, "no answer"); err != nil {
		t.Fatal(err)
	}
	for where, got := range map[string]Session{"Get": f.get(t, s.ID), "Online": f.s.Online(0, 0)[0], "restart": f.reopen(t).Online(0, 0)[0]} {
		if !sameTime(got.DisconnectAt, &at) || got.DisconnectOutcome != "nak: session context not found" || !got.Open() {
			t.Errorf("%s: disconnect %v %q open=%v", where, got.DisconnectAt, got.DisconnectOutcome, got.Open())
		}
	}
	// The NAS's Stop keeps what was recorded.
	got := f.record(t, stop(2*time.Minute, 1, 1, "Admin-Reset"))
	if got.DisconnectOutcome == "" || got.Open() {
		t.Errorf("after the Stop: %+v", got)
	}
	if err := f.s.RecordDisconnect(ctx, s.ID, t0.Add(3*time.Minute), "ack"); err != nil {
		t.Errorf("disconnect outcome for a closed session: %v", err)
	}
	if got := f.get(t, s.ID); got.DisconnectOutcome != "ack" || got.Open() {
		t.Errorf("closed session after RecordDisconnect: %+v", got)
	}
}

func TestOnlineDevicesCountsDevicesNotSessions(t *testing.T) {
	f := newFixture(t)
	at := func(kind Kind, nas, id string, device int64, when time.Duration) {
		r := rec(kind, when, 0, 0)
		r.SessionTime = 0
		r.NAS, r.AcctSessionID, r.DeviceID = nas, id, device
		f.record(t, r)
	}
	at(Start, "ap-lobby", "a", 70, time.Minute)
	at(Start, "ap-pool", "b", 70, 2*time.Minute) // roamed; the old session has no Stop yet
	at(Start, "ap-lobby", "c", 71, 0)
	at(Start, "ap-lobby", "d", 0, 0) // device unknown
	at(Start, "ap-lobby", "e", 72, 0)
	at(Stop, "ap-lobby", "e", 72, 0) // gone
	r := rec(Start, 0, 0, 0)
	r.AcctSessionID, r.StayID, r.DeviceID = "f", 8, 80 // another stay
	f.record(t, r)

	got := f.s.OnlineDevices(7, t0.Add(3*time.Minute))
	want := map[int64]time.Time{70: t0.Add(time.Minute), 71: t0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("OnlineDevices = %v, want %v", got, want)
	}
	// Device 71 falls silent for more than two intervals.
	f.clock.Advance(10*time.Minute + time.Second)
	if got := f.s.OnlineDevices(7, t0.Add(10*time.Minute+time.Second)); len(got) != 1 || got[70].IsZero() {
		t.Errorf("OnlineDevices with 71 stale = %v", got)
	}
	if got := f.s.OnlineDevices(0, t0); len(got) != 0 {
		t.Errorf("OnlineDevices(0) = %v", got)
	}
	if on := f.s.Online(7, 70); len(on) != 2 || on[0].AcctSessionID != "a" {
		t.Errorf("Online(7, 70) = %+v", on)
	}
	if on := f.s.Online(0, 71); len(on) != 1 || on[0].AcctSessionID != "c" {
		t.Errorf("Online(0, 71) = %+v", on)
	}
	if on := f.s.Online(8, 70); len(on) != 0 {
		t.Errorf("Online(8, 70) = %+v", on)
	}
}

func TestByAddress(t *testing.T) {
	f := newFixture(t)
	ip := netip.MustParseAddr("10.1.0.9")
	put := func(kind Kind, id string, when time.Duration) {
		r := rec(kind, when, 0, 0)
		r.AcctSessionID, r.FramedIP = id, ip
		f.record(t, r)
	}
	put(Start, "old", 0)
	put(Start, "new", time.Minute) // DHCP handed the address on
	if s, ok := f.s.ByAddress(ip); !ok || s.AcctSessionID != "new" {
		t.Fatalf("ByAddress = %q %v, want new", s.AcctSessionID, ok)
	}
	put(Interim, "old", 2*time.Minute)
	if s, _ := f.s.ByAddress(ip); s.AcctSessionID != "old" {
		t.Errorf("ByAddress = %q, want the most recently updated (old)", s.AcctSessionID)
	}
	put(Stop, "old", 3*time.Minute)
	if s, _ := f.s.ByAddress(ip); s.AcctSessionID != "new" {
		t.Errorf("ByAddress after Stop = %q, want new", s.AcctSessionID)
	}
	put(Stop, "new", 3*time.Minute)
	if s, ok := f.s.ByAddress(ip); ok {
		t.Errorf("ByAddress with both closed = %q", s.AcctSessionID)
	}
	// A new address replaces the old in the index.
	put(Start, "moved", 4*time.Minute)
	r := rec(Interim, 5*time.Minute, 0, 0)
	r.AcctSessionID, r.FramedIP = "moved", netip.MustParseAddr("10.1.0.10")
	f.record(t, r)
	if _, ok := f.s.ByAddress(ip); ok {
		t.Error("old address still finds the session")
	}
	if s, ok := f.s.ByAddress(r.FramedIP); !ok || s.AcctSessionID != "moved" {
		t.Errorf("new address: %q %v", s.AcctSessionID, ok)
	}
}

func TestCacheEvictionKeepsIndexesAndAccounting(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *Options) { o.CacheSize = 2 })
	for i, id := range []string{"s1", "s2", "s3"} {
		r := rec(Interim, time.Duration(i+1)*time.Minute, 100, 100)
		r.AcctSessionID, r.DeviceID = id, int64(70+i)
		f.record(t, r)
	}
	checkIndexes := func() {
		t.Helper()
		c := f.s.cache
		c.mu.RLock()
		defer c.mu.RUnlock()
		if n := c.lru.Len(); len(c.byStay[7]) != n || len(c.byAddr[netip.MustParseAddr("10.1.0.70")]) != n || len(c.byDevice) != n {
			t.Errorf("indexes out of step with %d cached: stay %d addr %d devices %d",
				n, len(c.byStay[7]), len(c.byAddr[netip.MustParseAddr("10.1.0.70")]), len(c.byDevice))
		}
	}
	checkIndexes()
	if on := f.s.Online(7, 0); len(on) != 2 || on[0].AcctSessionID != "s2" {
		t.Errorf("Online = %+v, want s2 and s3", on)
	}
	if n := len(f.list(t, Filter{})); n != 3 {
		t.Errorf("List = %d open, want 3 (the database keeps the evicted one)", n)
	}
	// s1's next record merges with the stored row, not from zero.
	r := rec(Interim, 10*time.Minute, 150, 90)
	r.DeviceID = 70
	if got := f.record(t, r); got.InputOctets != 150 || got.OutputOctets != 100 || !got.StartedAt.Equal(t0) {
		t.Errorf("evicted session merged as %+v", got)
	}
	checkIndexes()
	if f.s.cache.evicted != 2 {
		t.Errorf("%d evictions, want 2", f.s.cache.evicted)
	}
	// Accounting-On closes the evicted session too.
	if n, err := f.s.CloseNAS(ctx, "ap-lobby", t0.Add(time.Hour), "NAS-Reboot"); err != nil || n != 3 {
		t.Errorf("CloseNAS = %d, %v; want 3", n, err)
	}
	checkIndexes()
	if on := f.s.Online(0, 0); len(on) != 0 {
		t.Errorf("Online after CloseNAS = %+v", on)
	}
}

func TestRestartKnowsWhoIsOnline(t *testing.T) {
	f := newFixture(t)
	a := f.record(t, rec(Interim, 5*time.Minute, 100, 200))
	r := rec(Start, time.Minute, 0, 0)
	r.AcctSessionID, r.DeviceID, r.FramedIP = "s2", 71, netip.MustParseAddr("10.1.0.71")
	f.record(t, r)
	f.record(t, stop(time.Minute, 0, 0, "User-Request"))
	r = stop(2*time.Minute, 5, 5, "User-Request")
	r.AcctSessionID = "gone"
	f.record(t, r)
	want := f.s.Online(0, 0)

	// Keycard is killed (no Close) and starts again on the same file.
	s2 := f.reopen(t)
	got := s2.Online(0, 0)
	if len(got) != 1 || !same(&got[0], &want[0]) || got[0].AcctSessionID != "s2" {
		t.Fatalf("after restart Online = %+v, want %+v", got, want)
	}
	if s, ok := s2.ByAddress(netip.MustParseAddr("10.1.0.71")); !ok || s.AcctSessionID != "s2" {
		t.Errorf("ByAddress after restart = %+v %v", s, ok)
	}
	if d := s2.OnlineDevices(7, t0.Add(2*time.Minute)); len(d) != 1 || !d[71].Equal(t0.Add(time.Minute)) {
		t.Errorf("OnlineDevices after restart = %v", d)
	}
	// And carries on merging.
	if got, err := s2.Record(context.Background(), stop(20*time.Minute, 900, 900, "User-Request")); err != nil || got.ID != a.ID || got.InputOctets != 900 {
		t.Errorf("Stop after restart = %+v, %v", got, err)
	}
}

func TestInvalidRecords(t *testing.T) {
	f := newFixture(t)
	for name, tweak := range map[string]func(*Record){
		"no kind":            func(r *Record) { r.Kind = 0 },
		"accounting-on kind": func(r *Record) { r.Kind = 7 },
		"no NAS":             func(r *Record) { r.NAS = "" },
		"no session id":      func(r *Record) { r.AcctSessionID = "" },
		"no time":            func(r *Record) { r.At = time.Time{} },
		"negative time":      func(r *Record) { r.SessionTime = -time.Second },
		"negative stay":      func(r *Record) { r.StayID = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			r := rec(Start, 0, 0, 0)
			tweak(&r)
			_, err := f.s.Record(context.Background(), r)
			wantErr(t, err, ErrInvalidRecord)
		})
	}
	if n := len(f.list(t, Filter{All: true})); n != 0 {
		t.Errorf("%d sessions written", n)
	}
}

func TestCloseDrainsTheQueue(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s, err := newStore(ctx, f.db, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	var ops []*op
	for i := range 10 {
		r := rec(Start, 0, 0, 0)
		r.AcctSessionID = fmt.Sprintf("q%d", i)
		ops = append(ops, submit(s, &op{kind: opRecord, rec: r}))
	}
	go s.run()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i, o := range ops {
		if r := <-o.done; r.err != nil || r.session.ID == 0 {
			t.Errorf("queued record %d: %+v", i, r)
		}
	}
	if n := len(f.list(t, Filter{})); n != 10 {
		t.Errorf("%d sessions written, want 10", n)
	}
	_, err = s.Record(ctx, rec(Start, 0, 0, 0))
	wantErr(t, err, ErrClosed)
	_, err = s.CloseNAS(ctx, "ap-lobby", t0, "")
	wantErr(t, err, ErrClosed)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := len(s.Online(0, 0)); n != 10 {
		t.Errorf("Online after Close = %d, want 10", n)
	}
}

func TestCanceledContextWritesNothing(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.s.Record(ctx, rec(Start, 0, 0, 0))
	wantErr(t, err, context.Canceled)
	if n := len(f.list(t, Filter{All: true})); n != 0 {
		t.Errorf("%d sessions written", n)
	}
}

// TestWriterFsyncsEveryCommit checks the writer's connection, and only
// it, runs with synchronous=FULL.
func TestWriterFsyncsEveryCommit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var mode int
	if err := f.s.conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 2 {
		t.Errorf("writer synchronous = %d, want 2 (FULL)", mode)
	}
	if err := f.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 1 {
		t.Errorf("the pool's synchronous = %d, want 1 (NORMAL, left alone)", mode)
	}
}

func TestInMemoryDatabase(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, db, Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Record(ctx, rec(Start, 0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	// The pool has one connection: the writer must give it back.
	if _, err := s.Get(ctx, got.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(ctx, stop(time.Minute, 1, 1, "User-Request")); err != nil {
		t.Fatal(err)
	}
	if ss, err := s.List(ctx, Filter{All: true}); err != nil || len(ss) != 1 || ss[0].Open() {
		t.Errorf("List = %+v, %v", ss, err)
	}
}

func TestMigrateAndCheck(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir()+"/keycard.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wantErr(t, Check(ctx, db), store.ErrBehind)
	if _, err := New(ctx, db, Options{}); err == nil {
		t.Error("New on an empty database succeeded")
	}
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, db); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
}

func TestOptions(t *testing.T) {
	db := openDB(t, t.TempDir()+"/keycard.db")
	for name, o := range map[string]Options{
		"negative cache":    {CacheSize: -1},
		"negative interval": {InterimInterval: -time.Second},
		"negative batch":    {MaxBatch: -1},
	} {
		if _, err := New(context.Background(), db, o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := New(context.Background(), nil, Options{}); err == nil {
		t.Error("New without a database succeeded")
	}
	s, err := New(context.Background(), db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.staleAfter != 2*DefaultInterimInterval || s.maxBatch != DefaultMaxBatch {
		t.Errorf("defaults not applied: %s %d", s.staleAfter, s.maxBatch)
	}
	_, err = s.List(context.Background(), Filter{Limit: -1})
	if err == nil || errors.Is(err, ErrUnknownSession) {
		t.Errorf("List with a negative limit: %v", err)
	}
}

// TestAnotherProcessWrites: keycard session kick, in its own process,
// records a Disconnect outcome and closes a session the NAS no longer had.
// The server's Store must merge onto that, not write its cached copy back,
// and Refresh brings its cache up to date.
func TestAnotherProcessWrites(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	kept := f.record(t, rec(Start, 0, 0, 0))
	r := rec(Start, 0, 0, 0)
	r.AcctSessionID, r.DeviceID = "lost", 71
	f.record(t, r)

	cli := f.reopen(t)
	if err := cli.RecordDisconnect(ctx, kept.ID, t0.Add(time.Minute), "nak (Error-Cause 502)"); err != nil {
		t.Fatal(err)
	}
	r = stop(time.Minute, 0, 0, "Admin-Reset")
	r.AcctSessionID, r.DeviceID, r.SessionTime = "lost", 71, 0
	if _, err := cli.Record(ctx, r); err != nil {
		t.Fatal(err)
	}

	// The server hears from both sessions again.
	got := f.record(t, rec(Interim, 5*time.Minute, 100, 100))
	if got.DisconnectOutcome != "nak (Error-Cause 502)" || f.get(t, kept.ID).DisconnectOutcome == "" {
		t.Errorf("the other process's disconnect outcome was overwritten: %+v", got)
	}
	r = rec(Interim, 5*time.Minute, 100, 100)
	r.AcctSessionID, r.DeviceID = "lost", 71
	if got := f.record(t, r); got.Open() || got.TerminateCause != "Admin-Reset" {
		t.Errorf("a session another process closed was reopened: %+v", got)
	}
	if on := f.s.Online(0, 71); len(on) != 0 {
		t.Errorf("Online still has the closed session: %+v", on)
	}

	// Without a new record, Refresh brings the change in.
	if err := cli.RecordDisconnect(ctx, kept.ID, t0.Add(6*time.Minute), "ack"); err != nil {
		t.Fatal(err)
	}
	if on := f.s.Online(0, 70); len(on) != 1 || on[0].DisconnectOutcome != "nak (Error-Cause 502)" {
		t.Fatalf("before Refresh: %+v", on)
	}
	if err := f.s.Refresh(ctx, kept.ID); err != nil {
		t.Fatal(err)
	}
	if on := f.s.Online(0, 70); len(on) != 1 || on[0].DisconnectOutcome != "ack" {
		t.Errorf("after Refresh: %+v", on)
	}
	if _, err := cli.Record(ctx, stop(7*time.Minute, 200, 200, "Admin-Reset")); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Refresh(ctx, kept.ID); err != nil {
		t.Fatal(err)
	}
	if on := f.s.Online(0, 0); len(on) != 0 {
		t.Errorf("Refresh of a closed session left it online: %+v", on)
	}
	wantErr(t, f.s.Refresh(ctx, 999), ErrUnknownSession)
}
