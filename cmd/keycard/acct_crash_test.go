package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"keycard/internal/loadgen"
)

// acctRow is a session as `session list --all --json` prints it: the
// fields the accounting tests check.
type acctRow struct {
	ID             int64      `json:"id"`
	AcctSessionID  string     `json:"acct_session_id"`
	NAS            string     `json:"nas"`
	Stay           int64      `json:"stay"`
	Device         int64      `json:"device"`
	StoppedAt      *time.Time `json:"stopped_at"`
	InputOctets    uint64     `json:"input_octets"`
	OutputOctets   uint64     `json:"output_octets"`
	InputPackets   uint64     `json:"input_packets"`
	OutputPackets  uint64     `json:"output_packets"`
	SessionSeconds int64      `json:"session_seconds"`
	TerminateCause string     `json:"terminate_cause"`
}

// acctSessions reads every session, open and closed, through the CLI as a
// separate process (as an admin would, next to a running serve), by
// Acct-Session-Id.
func (h *harness) acctSessions() map[string]acctRow {
	h.t.Helper()
	out := h.cli("session", "list", "--all", "--json")
	var rows []acctRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		h.t.Fatalf("session list --all --json: %v\n%s", err, tail(out, 20))
	}
	m := make(map[string]acctRow, len(rows))
	for _, r := range rows {
		if _, dup := m[r.AcctSessionID]; dup {
			h.t.Errorf("session list: Acct-Session-Id %q twice", r.AcctSessionID)
		}
		m[r.AcctSessionID] = r
	}
	return m
}

// TestAccountingSurvivesKill9: an acknowledged accounting record is never
// lost. Thirty-two simulated access points send sessions (Start, Interim,
// Stop) as fast as Keycard acknowledges them; Keycard is killed with
// SIGKILL in the middle of it (no shutdown, no flush) and started again.
// Every record acknowledged before the kill must be in the database: its
// session exists, with counters at least the record's, and an acknowledged
// Stop has closed it with exactly the Stop's counters.
func TestAccountingSurvivesKill9(t *testing.T) {
	requireTool(t, "radclient") // serveProcess waits for Status-Server with it
	h := newHarness(t)
	h.run("ca", "init")
	h.run("nas", "add", "--name", "loadgen-ap", "--address", "127.0.0.1", "--secret", h.secret)
	s := h.serveProcess("serve")

	type key struct {
		id   string
		kind loadgen.AcctKind
	}
	var (
		mu          sync.Mutex
		acked       = map[key]loadgen.AcctAck{}
		killed      bool
		beforeKill  int
		afterKill   int
		enoughAcked = make(chan struct{})
	)
	const wantBeforeKill = 20000
	onAck := func(a loadgen.AcctAck) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := acked[key{a.AcctSessionID, a.Kind}]; dup {
			t.Errorf("%s %v acknowledged twice", a.AcctSessionID, a.Kind)
		}
		acked[key{a.AcctSessionID, a.Kind}] = a
		if killed {
			afterKill++ // sent by serve before it died, read by us after
			return
		}
		beforeKill++
		if beforeKill == wantBeforeKill {
			close(enoughAcked)
		}
	}

	const timeout, retries = 250 * time.Millisecond, 1
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	type result struct {
		rep loadgen.AcctReport
		err error
	}
	done := make(chan result, 1)
	loadStart := time.Now()
	go func() {
		rep, err := loadgen.Accounting(ctx, loadgen.AcctOptions{
			Server: fmt.Sprintf("127.0.0.1:%d", h.acct), Secret: []byte(h.secret),
			Sockets: 32, Duration: 30 * time.Second, Timeout: timeout, Retries: retries,
			NASIdentifier: "loadgen-ap", OnAck: onAck,
		})
		done <- result{rep, err}
	}()

	// About 1.5 s of load, or wantBeforeKill acknowledged records, then
	// SIGKILL while the sockets are still sending.
	select {
	case <-enoughAcked:
	case <-time.After(1500 * time.Millisecond):
	case r := <-done:
		t.Fatalf("the load ended before the kill: %+v, %v\n%s", r.rep, r.err, tail(s.log(), 30))
	}
	mu.Lock()
	killed = true
	n := beforeKill
	mu.Unlock()
	s.kill9()
	t.Logf("killed serve after %s of load and %d acknowledged records", time.Since(loadStart).Round(time.Millisecond), n)

	// Let every socket's record in flight run out of retransmissions
	// against the dead port, then stop the load.
	time.Sleep(2*(retries+1)*timeout + 200*time.Millisecond)
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	rep := r.rep
	t.Logf("load: %d records acknowledged (%d before the kill, %d read after it), %d failed %v, %d retransmissions, %.0f acked/s",
		rep.Acked, beforeKill, afterKill, rep.FailureCount(), rep.Failures, rep.Retransmits, rep.PacketsPerSec)
	if beforeKill == 0 {
		t.Fatalf("no record was acknowledged before the kill\n%s", tail(s.log(), 30))
	}
	// The load was really running when serve died: records sent after
	// the kill went unanswered.
	if rep.Failures[loadgen.CauseTimeout] == 0 || rep.Retransmits == 0 {
		t.Errorf("no record went unanswered after the kill (failures %v, %d retransmissions): was the load still running?", rep.Failures, rep.Retransmits)
	}
	for c, n := range rep.Failures {
		if c != loadgen.CauseTimeout && c != loadgen.CauseCancelled {
			t.Errorf("%d records failed with %q (first error %q): only unanswered records are expected", n, c, rep.FirstError)
		}
	}

	s2 := h.serveProcess("serve-after-crash")
	stored := h.acctSessions()
	var lost []string
	for k, a := range acked {
		row, ok := stored[k.id]
		switch {
		case !ok:
			lost = append(lost, fmt.Sprintf("%s %v: no session", k.id, k.kind))
		case row.NAS != "loadgen-ap":
			lost = append(lost, fmt.Sprintf("%s %v: NAS %q", k.id, k.kind, row.NAS))
		case row.InputOctets < a.InputOctets || row.OutputOctets < a.OutputOctets ||
			row.InputPackets < a.InputPackets || row.OutputPackets < a.OutputPackets ||
			row.SessionSeconds < int64(a.SessionTime/time.Second):
			lost = append(lost, fmt.Sprintf("%s %v: stored %+v, acknowledged %+v", k.id, k.kind, row, a))
		case k.kind == loadgen.AcctStop && row.StoppedAt == nil:
			lost = append(lost, fmt.Sprintf("%s: Stop acknowledged, session still open", k.id))
		case k.kind == loadgen.AcctStop && (row.InputOctets != a.InputOctets || row.OutputOctets != a.OutputOctets ||
			row.TerminateCause != "User-Request"):
			// Nothing after the Stop carries more: the maxima are the Stop's.
			lost = append(lost, fmt.Sprintf("%s: stored %+v, Stop was %+v", k.id, row, a))
		}
	}
	if len(lost) > 0 {
		if len(lost) > 10 {
			lost = append(lost[:10], fmt.Sprintf("... and %d more", len(lost)-10))
		}
		t.Fatalf("%d of %d acknowledged records are not in the database after kill -9 and restart:\n%s\nlog before the kill:\n%s\nlog after:\n%s",
			len(lost), len(acked), strings.Join(lost, "\n"), tail(s.log(), 20), tail(s2.log(), 20))
	}
	gigawords := 0
	for _, row := range stored {
		if row.InputOctets > 1<<32 {
			gigawords++
		}
	}
	if gigawords == 0 {
		t.Error("no stored session passed 4 GiB (Acct-Input-Gigawords)")
	}

	// The restarted server takes accounting again.
	after, err := loadgen.Accounting(t.Context(), loadgen.AcctOptions{
		Server: fmt.Sprintf("127.0.0.1:%d", h.acct), Secret: []byte(h.secret), Sockets: 4, Count: 8,
		FirstSession: 1 << 24, Timeout: time.Second,
	})
	if err != nil || after.Completed != 8 || after.FailureCount() != 0 {
		t.Errorf("after the restart: %+v, %v\n%s", after, err, tail(s2.log(), 20))
	}
	t.Logf("%d acknowledged records checked, %d sessions stored, %d past 4 GiB", len(acked), len(stored), gigawords)
}
