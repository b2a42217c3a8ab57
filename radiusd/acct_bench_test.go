package radiusd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"keycard/internal/loadgen"
	"keycard/internal/store"
	"keycard/radiusd"
	"keycard/radiusd/radiustest"
	"keycard/sessions"
)

// BenchmarkAccounting runs the whole accounting path as make bench does:
// a served Server on loopback UDP with a real sessions.Store on a database
// file (every commit fsynced before its Accounting-Response), and
// internal/loadgen's access points (Start, Interim-Update, Stop per
// session, one record outstanding per socket) in a child process, so that
// the CPU this process uses, getrusage(RUSAGE_SELF) over the run, is the
// server's alone. An op is one record. It reports records/s (as the load
// generator saw them), server-µs/record, client-µs/record (the child's
// CPU, for comparison: both share the machine's cores), p99-ms and the
// server's context switches per record (goroutine hand-offs that park and
// wake threads).
//
//	go test -run '^$' -bench Accounting -benchtime 30000x -count 6 ./radiusd/
func BenchmarkAccounting(b *testing.B) {
	for _, sockets := range []int{64} {
		b.Run("sockets="+strconv.Itoa(sockets), func(b *testing.B) {
			addr := serveAccountingBench(b)
			// One run of the load generator carries all b.N records.
			n := (b.N + 2) / 3
			before := selfUsage(b)
			rep, client := runAcctClient(b, acctClientOptions{
				Server: addr.String(), Secret: string(testSecret), Sockets: sockets, Count: n,
			})
			after := selfUsage(b)
			server := after.cpu - before.cpu
			if rep.Acked == 0 || rep.FailureCount() != 0 {
				b.Fatalf("%d acknowledged, %d failed: %s", rep.Acked, rep.FailureCount(), rep.FirstError)
			}
			b.ReportMetric(rep.PacketsPerSec, "records/s")
			b.ReportMetric(float64(server.Microseconds())/float64(rep.Acked), "server-µs/record")
			b.ReportMetric(float64(client.Microseconds())/float64(rep.Acked), "client-µs/record")
			b.ReportMetric(float64(rep.P99)/float64(time.Millisecond), "p99-ms")
			b.ReportMetric(float64(after.switches-before.switches)/float64(rep.Acked), "ctxsw/record")
		})
	}
}

// serveAccountingBench starts a Server whose accounting port stores into
// a sessions.Store on a file in b.TempDir(), logging at warn as make bench
// configures it, and returns the accounting address.
func serveAccountingBench(b *testing.B) netip.AddrPort {
	b.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "keycard.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := sessions.Migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := sessions.New(ctx, db, sessions.Options{Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	pki := radiustest.NewPKI(b, now)
	srv, err := radiusd.New(radiusd.Config{AuthListen: []string{"127.0.0.1:0"}, AcctListen: []string{"127.0.0.1:0"}}, radiusd.Deps{
		NAS: radiustest.NASList{
			{Name: "ap-lobby", Network: netip.MustParsePrefix("127.0.0.1/32"), Secret: testSecret},
		},
		Authorizer:        &radiustest.Authorizer{},
		ServerCertificate: pki.Server,
		ClientCAs:         pki.Roots,
		Logger:            logger,
		Registry:          prometheus.NewRegistry(),
		Accounting:        st,
	})
	if err != nil {
		b.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	if err := srv.Listen(sctx); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(sctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("ListenAndServe: %v", err)
		}
		if err := st.Close(); err != nil {
			b.Error(err)
		}
	})
	return srv.AcctAddrs()[0]
}

// usage is what getrusage(RUSAGE_SELF) says this process has used so
// far: CPU time (user and system) and context switches (voluntary and
// not), of all its threads.
type usage struct {
	cpu      time.Duration
	switches int64
}

func selfUsage(b *testing.B) usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), switches: ru.Nvcsw + ru.Nivcsw}
}

// acctClientOptions is what the benchmark hands its child process.
type acctClientOptions struct {
	Server       string
	Secret       string
	Sockets      int
	Count        int
	FirstSession int
	Report       string // file the child writes its loadgen.AcctReport to
}

const acctClientEnv = "KEYCARD_BENCH_ACCT_CLIENT"

// runAcctClient runs the load generator in a child process (this test
// binary, running TestAccountingBenchClient) and returns its report and
// the CPU time it used.
func runAcctClient(b *testing.B, o acctClientOptions) (loadgen.AcctReport, time.Duration) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	o.Report = filepath.Join(b.TempDir(), "report.json")
	env, err := json.Marshal(o)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestAccountingBenchClient$", "-test.count=1")
	cmd.Env = append(os.Environ(), acctClientEnv+"="+string(env))
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("load generator: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(o.Report)
	if err != nil {
		b.Fatal(err)
	}
	var rep struct {
		loadgen.AcctReport
		ElapsedS float64 `json:"elapsed_s"`
		P99      float64 `json:"p99_ms"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		b.Fatal(err)
	}
	rep.AcctReport.Elapsed = time.Duration(rep.ElapsedS * float64(time.Second))
	rep.AcctReport.P99 = time.Duration(rep.P99 * float64(time.Millisecond))
	return rep.AcctReport, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// TestAccountingBenchClient is BenchmarkAccounting's load generator when
// run as its child process; otherwise it is skipped.
func TestAccountingBenchClient(t *testing.T) {
	env := os.Getenv(acctClientEnv)
	if env == "" {
		t.Skip("the load generator of BenchmarkAccounting, run only as its child process")
	}
	var o acctClientOptions
	if err := json.Unmarshal([]byte(env), &o); err != nil {
		t.Fatal(err)
	}
	rep, err := loadgen.Accounting(context.Background(), loadgen.AcctOptions{
		Server: o.Server, Secret: []byte(o.Secret), Sockets: o.Sockets,
		Count: o.Count, FirstSession: o.FirstSession,
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(o.Report, raw, 0o600); err != nil {
		t.Fatal(fmt.Errorf("write report: %w", err))
	}
}
