package sessions

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkCache100kSessions fills the cache with 100,000 open sessions
// shaped like a hotel's (40 access points, each device's own strings
// freshly allocated as radiusd's decoder would hand them over) and reports
// the memory each one holds, indexes included.
func BenchmarkCache100kSessions(b *testing.B) {
	const n = 100_000
	sessions := make([]Session, n)
	for i := range sessions {
		ap := i % 40
		sessions[i] = Session{
			ID: int64(i + 1), NAS: fmt.Sprintf("ap-%02d", ap), AcctSessionID: fmt.Sprintf("%08X-%08X", 0x5F3A0000+i, i),
			StayID: int64(i/2 + 1), DeviceID: int64(i + 1),
			UserName:         fmt.Sprintf("device-%d", i+1),
			CallingStationID: fmt.Sprintf("02-00-00-%02X-%02X-%02X", i>>16&0xff, i>>8&0xff, i&0xff),
			CalledStationID:  fmt.Sprintf("0A-00-00-00-00-%02X:Hotel-Guest", ap),
			FramedIP:         netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			NASAddress:       netip.AddrFrom4([4]byte{192, 0, 2, byte(ap)}),
			NASIPAddress:     netip.AddrFrom4([4]byte{192, 0, 2, byte(ap)}),
			NASIdentifier:    fmt.Sprintf("ap-%02d.hotel.example", ap),
			StartedAt:        t0, UpdatedAt: t0.Add(5 * time.Minute), SessionTime: 5 * time.Minute,
			InputOctets: 5_000_000_000, OutputOctets: 1 << 30, InputPackets: 1 << 20, OutputPackets: 1 << 20,
		}
	}
	var perSession float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c, err := newCache(n, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		c.mu.Lock()
		for i := range sessions {
			// What Record hands the cache: a Session of its own.
			s := sessions[i]
			s.NAS = string([]byte(s.NAS))
			s.AcctSessionID = string([]byte(s.AcctSessionID))
			s.UserName = string([]byte(s.UserName))
			s.CallingStationID = string([]byte(s.CallingStationID))
			s.CalledStationID = string([]byte(s.CalledStationID))
			s.NASIdentifier = string([]byte(s.NASIdentifier))
			c.putLocked(&s)
		}
		c.mu.Unlock()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if c.lru.Len() != n {
			b.Fatalf("%d cached", c.lru.Len())
		}
		perSession = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perSession, "B/session")
}

// BenchmarkRecordGroupCommit sends Interim-Updates from many goroutines at
// once, as radiusd's workers do, to a database file with every commit
// fsynced, and reports records per second and per transaction.
func BenchmarkRecordGroupCommit(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(16) // 16 callers per CPU: the records waiting on each fsync
	start := time.Now()
	commits := f.s.commits.Load()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			r := rec(Interim, time.Minute, uint64(i), uint64(i))
			r.AcctSessionID = fmt.Sprintf("b%d", i%5000) // 5,000 devices online
			r.StayID, r.DeviceID = 1+i%5000/2, 1+i%5000  // two devices a room
			if _, err := f.s.Record(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	if c := f.s.commits.Load() - commits; c > 0 {
		b.ReportMetric(float64(b.N)/float64(c), "records/commit")
	}
}

// BenchmarkWriterBatch measures the writer alone: batches of 1, 16 or 64
// records (each session's Start, Interim-Update and Stop, as
// internal/loadgen sends them, 64 sessions under way) applied by commit,
// the writer goroutine's own work, to a database file with every commit
// fsynced. It reports the CPU the process used per record while in commit
// (getrusage: SQLite, the kernel's share of the WAL writes and fsyncs, the
// cache, the answers), without the hand-offs between goroutines that
// BenchmarkRecordGroupCommit includes.
func BenchmarkWriterBatch(b *testing.B) {
	for _, n := range []int{1, 16, 64} {
		b.Run("batch="+strconv.Itoa(n), func(b *testing.B) { benchmarkWriterBatch(b, n) })
	}
}

func benchmarkWriterBatch(b *testing.B, batchSize int) {
	f := newFixture(b)
	s, err := newStore(context.Background(), f.db, f.opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	go func() { // Close needs a writer to stop; this one has nothing queued
		for range s.queue {
		}
		close(s.done)
	}()
	const underWay = 64
	next := 0
	record := func() *op {
		// Session n's records are n, n+underWay and n+2*underWay in
		// order: 64 sessions under way, as 64 access points send them.
		n := next % underWay
		round := next / underWay
		sess, kind := round/3*underWay+n, []Kind{Start, Interim, Stop}[round%3]
		next++
		at := time.Duration(kind-1) * time.Minute
		r := rec(kind, at, uint64(round)*1000, uint64(round)*3000)
		if kind == Stop {
			r.TerminateCause = "User-Request"
		}
		r.AcctSessionID = fmt.Sprintf("loadgen-%08d", sess)
		r.StayID, r.DeviceID = 0, 0
		r.FramedIP = netip.AddrFrom4([4]byte{10, byte(sess >> 16), byte(sess >> 8), byte(sess)})
		if err := validRecord(&r); err != nil {
			b.Fatal(err)
		}
		return &op{kind: opRecord, rec: r, done: make(chan opResult, 1)}
	}
	ops := make([]*op, batchSize)
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ReportAllocs()
	var used time.Duration
	records := 0
	for b.Loop() {
		for i := range ops {
			ops[i] = record()
		}
		before := cpu()
		s.commit(ops)
		used += cpu() - before
		for _, o := range ops {
			if res := <-o.done; res.err != nil {
				b.Fatal(res.err)
			}
		}
		records += len(ops)
	}
	b.ReportMetric(float64(used.Nanoseconds())/1e3/float64(records), "cpu-µs/record")
}
