package loadgen

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
)

// acctFault is one way the fake accounting server misbehaves.
type acctFault int

const (
	acctWellBehaved acctFault = iota
	acctDropFirst             // ignores the first packet it gets
	acctBadAuth               // answers with a wrong Response Authenticator
	acctWrongCode             // answers Access-Accept
	acctWrongID               // answers with another Identifier
	acctSilent                // never answers
	acctMsgAuth               // adds a Message-Authenticator, as FreeRADIUS computes it
	acctBadMsgAuth            // adds a wrong Message-Authenticator
)

// fakeRecord is one Accounting-Request the fake server acknowledged, as it
// decoded it from the wire.
type fakeRecord struct {
	sessionID           string
	status              rfc2866.AcctStatusType
	in, out             uint64 // octets with Gigawords
	inPkts, outPkts     uint64
	gigawords           bool
	station, user, nasI string
}

// fakeAcct is an accounting server on loopback that checks each request's
// authenticator by hand, independently of the code under test, and answers
// the way its fault says.
type fakeAcct struct {
	t      *testing.T
	conn   net.PacketConn
	secret []byte
	fault  acctFault

	mu      sync.Mutex
	seen    map[string]int // request bytes -> copies received
	acked   []fakeRecord
	dropped bool
}

func newFakeAcct(t *testing.T, secret []byte, f acctFault) *fakeAcct {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeAcct{t: t, conn: conn, secret: secret, fault: f, seen: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := s.answer(bytes.Clone(buf[:n])); out != nil {
				conn.WriteTo(out, from)
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

func (s *fakeAcct) addr() string { return s.conn.LocalAddr().String() }

func (s *fakeAcct) answer(b []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[string(b)]++
	if s.fault == acctSilent || (s.fault == acctDropFirst && !s.dropped) {
		s.dropped = true
		return nil
	}
	// RFC 2866 section 3: MD5(Code+Identifier+Length+16 zero octets+
	// Attributes+Secret).
	h := md5.New()
	h.Write(b[:4])
	h.Write(make([]byte, 16))
	h.Write(b[20:])
	h.Write(s.secret)
	if b[0] != byte(radius.CodeAccountingRequest) || !bytes.Equal(h.Sum(nil), b[4:20]) {
		s.t.Errorf("fake accounting server: not an authentic Accounting-Request: % x", b[:20])
		return nil
	}
	p, err := radius.Parse(b, s.secret)
	if err != nil {
		s.t.Errorf("fake accounting server: %v", err)
		return nil
	}
	_, gw := p.Lookup(rfc2869.AcctInputGigawords_Type)
	s.acked = append(s.acked, fakeRecord{
		sessionID: rfc2866.AcctSessionID_GetString(p),
		status:    rfc2866.AcctStatusType_Get(p),
		in:        uint64(rfc2866.AcctInputOctets_Get(p)) | uint64(rfc2869.AcctInputGigawords_Get(p))<<32,
		out:       uint64(rfc2866.AcctOutputOctets_Get(p)) | uint64(rfc2869.AcctOutputGigawords_Get(p))<<32,
		inPkts:    uint64(rfc2866.AcctInputPackets_Get(p)),
		outPkts:   uint64(rfc2866.AcctOutputPackets_Get(p)),
		gigawords: gw,
		station:   string(p.Get(31)), user: string(p.Get(1)), nasI: string(p.Get(32)),
	})

	resp := make([]byte, 20)
	resp[0], resp[1] = byte(radius.CodeAccountingResponse), b[1]
	if s.fault == acctMsgAuth || s.fault == acctBadMsgAuth {
		// HMAC-MD5 over the response with the Authenticator and the
		// attribute's value zeroed (FreeRADIUS's rad_sign).
		resp = append(resp, 80, 18)
		resp = append(resp, make([]byte, 16)...)
		binary.BigEndian.PutUint16(resp[2:], uint16(len(resp)))
		mac := hmac.New(md5.New, s.secret)
		mac.Write(resp)
		copy(resp[22:], mac.Sum(nil))
		if s.fault == acctBadMsgAuth {
			resp[22] ^= 1
		}
	}
	binary.BigEndian.PutUint16(resp[2:], uint16(len(resp)))
	switch s.fault {
	case acctWrongCode:
		resp[0] = byte(radius.CodeAccessAccept)
	case acctWrongID:
		resp[1]++
	}
	h = md5.New()
	h.Write(resp[:4])
	h.Write(b[4:20])
	h.Write(resp[20:])
	h.Write(s.secret)
	copy(resp[4:], h.Sum(nil))
	if s.fault == acctBadAuth {
		resp[4] ^= 1
	}
	return resp
}

func (s *fakeAcct) records() []fakeRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fakeRecord(nil), s.acked...)
}

// TestAccountingWellBehaved runs sessions against a server that answers
// every record: each session is Start, Interim-Update, Stop with rising
// counters and a unique Acct-Session-Id, every acknowledged record reaches
// OnAck with what the server decoded, and some sessions pass 4 GiB.
func TestAccountingWellBehaved(t *testing.T) {
	secret := []byte("acct-secret")
	srv := newFakeAcct(t, secret, acctWellBehaved)
	var (
		mu   sync.Mutex
		acks []AcctAck
	)
	const sessions = 12
	rep, err := Accounting(t.Context(), AcctOptions{
		Server: srv.addr(), Secret: secret, Sockets: 3, Count: sessions, FirstSession: 100,
		Timeout: time.Second, NASIdentifier: "test-ap",
		OnAck: func(a AcctAck) { mu.Lock(); acks = append(acks, a); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Acked != 3*sessions || rep.Records != 3*sessions || rep.Sessions != sessions || rep.Completed != sessions ||
		rep.Sent != 3*sessions || rep.Retransmits != 0 || rep.FailureCount() != 0 {
		t.Fatalf("report %+v", rep)
	}
	if rep.P50 <= 0 || rep.P99 < rep.P50 || rep.PacketsPerSec <= 0 {
		t.Errorf("latency/throughput not measured: %+v", rep)
	}

	got := srv.records()
	if len(got) != 3*sessions || len(acks) != 3*sessions {
		t.Fatalf("server acknowledged %d records, OnAck saw %d; want %d each", len(got), len(acks), 3*sessions)
	}
	type key struct {
		id   string
		kind AcctKind
	}
	server := map[key]fakeRecord{}
	for _, r := range got {
		server[key{r.sessionID, AcctKind(r.status)}] = r
		if r.user == "" || r.station == "" || r.nasI != "test-ap" {
			t.Errorf("record %+v lacks User-Name, Calling-Station-Id or NAS-Identifier", r)
		}
	}
	ids := map[string]bool{}
	gigawords := false
	last := map[string]AcctAck{}
	for _, a := range acks {
		r, ok := server[key{a.AcctSessionID, a.Kind}]
		if !ok {
			t.Fatalf("OnAck %+v: the server never acknowledged it", a)
		}
		if r.in != a.InputOctets || r.out != a.OutputOctets || r.inPkts != a.InputPackets || r.outPkts != a.OutputPackets {
			t.Errorf("OnAck %+v, server decoded %+v", a, r)
		}
		if a.Session < 100 || a.Session >= 100+sessions || a.AcctSessionID != AcctSessionID(a.Session) {
			t.Errorf("session %d (%s) outside the run's range", a.Session, a.AcctSessionID)
		}
		ids[a.AcctSessionID] = true
		gigawords = gigawords || (r.gigawords && a.InputOctets > 1<<32)
		// Each socket sends a session's records in order.
		if prev, ok := last[a.AcctSessionID]; ok && (a.Kind == AcctStart || a.InputOctets < prev.InputOctets || a.OutputOctets < prev.OutputOctets) {
			t.Errorf("%s: %v after %v, counters %d after %d", a.AcctSessionID, a.Kind, prev.Kind, a.InputOctets, prev.InputOctets)
		}
		last[a.AcctSessionID] = a
	}
	if len(ids) != sessions {
		t.Errorf("%d distinct Acct-Session-Ids, want %d", len(ids), sessions)
	}
	if !gigawords {
		t.Error("no record passed 4 GiB with Acct-Input-Gigawords")
	}
	for id, a := range last {
		if a.Kind != AcctStop || a.InputOctets == 0 {
			t.Errorf("%s ended with %v, %d octets", id, a.Kind, a.InputOctets)
		}
	}
}

// TestAccountingFaults: every misbehaviour is caught and counted by cause,
// OnAck never sees a record the server did not properly acknowledge, and a
// lost packet is retransmitted byte for byte.
func TestAccountingFaults(t *testing.T) {
	secret := []byte("acct-secret")
	tests := []struct {
		name  string
		fault acctFault
		want  Cause // "" = every record acknowledged
	}{
		{"lost packet", acctDropFirst, ""},
		{"Message-Authenticator", acctMsgAuth, ""},
		{"bad Message-Authenticator", acctBadMsgAuth, CauseMsgAuthInvalid},
		{"bad Response Authenticator", acctBadAuth, CauseResponseAuthenticator},
		{"wrong code", acctWrongCode, CauseProtocol},
		{"wrong Identifier", acctWrongID, CauseTimeout},
		{"silent", acctSilent, CauseTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeAcct(t, secret, tt.fault)
			acked := 0
			rep, err := Accounting(t.Context(), AcctOptions{
				Server: srv.addr(), Secret: secret, Sockets: 1, Count: 2, Timeout: 50 * time.Millisecond, Retries: 1,
				OnAck: func(AcctAck) { acked++ },
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				lost := 0
				if tt.fault == acctDropFirst {
					lost = 1
				}
				if rep.Acked != 6 || acked != 6 || rep.FailureCount() != 0 || rep.Retransmits != lost || rep.Sent != 6+lost {
					t.Fatalf("report %+v, OnAck %d", rep, acked)
				}
				twice := 0
				srv.mu.Lock()
				for _, n := range srv.seen {
					if n == 2 {
						twice++
					}
				}
				srv.mu.Unlock()
				if twice != lost {
					t.Errorf("%d requests arrived twice, want %d (the lost one, same bytes)", twice, lost)
				}
				return
			}
			// Each session fails at its Start, and the socket goes on with
			// the next session.
			if rep.Failures[tt.want] != 2 || rep.FailureCount() != 2 || rep.Acked != 0 || acked != 0 || rep.Records != 2 {
				t.Fatalf("report %+v, OnAck %d; want 2 failures of %q", rep, acked, tt.want)
			}
			if rep.FirstError == "" {
				t.Error("no first error")
			}
		})
	}
}

// TestAccountingServerGone: nothing listens (ICMP port unreachable), which
// a NAS treats as no answer: retransmit, then give up as a timeout.
func TestAccountingServerGone(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	rep, err := Accounting(t.Context(), AcctOptions{
		Server: addr, Secret: []byte("s"), Sockets: 1, Count: 2, Timeout: 50 * time.Millisecond, Retries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures[CauseTimeout] != 2 || rep.FailureCount() != 2 || rep.Sent != 4 {
		t.Fatalf("report %+v", rep)
	}
}

// TestAccountingCancel: cancelling ends the run at once, not after the
// timeouts, and a Duration run ends by itself.
func TestAccountingCancel(t *testing.T) {
	secret := []byte("acct-secret")
	srv := newFakeAcct(t, secret, acctSilent)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	rep, err := Accounting(ctx, AcctOptions{Server: srv.addr(), Secret: secret, Sockets: 4, Count: 100, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("cancelled run took %s", d)
	}
	if rep.Failures[CauseCancelled] != 4 || rep.Acked != 0 {
		t.Errorf("report %+v; want 4 records cancelled", rep)
	}

	ok := newFakeAcct(t, secret, acctWellBehaved)
	rep, err = Accounting(t.Context(), AcctOptions{Server: ok.addr(), Secret: secret, Sockets: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Acked == 0 || rep.FailureCount() != 0 || rep.Acked != 3*rep.Completed {
		t.Errorf("duration run: %+v", rep)
	}
}

func TestAcctOptionsValidation(t *testing.T) {
	good := AcctOptions{Server: "127.0.0.1:1813", Secret: []byte("s"), Count: 1}
	tests := []struct {
		name    string
		edit    func(*AcctOptions)
		wantErr string
	}{
		{"defaults", func(*AcctOptions) {}, ""},
		{"remote refused", func(o *AcctOptions) { o.Server = "192.0.2.1:1813" }, "not a loopback address"},
		{"remote allowed", func(o *AcctOptions) { o.Server = "192.0.2.1:1813"; o.AllowRemote = true }, ""},
		{"a name", func(o *AcctOptions) { o.Server = "localhost:1813" }, "not a name"},
		{"no secret", func(o *AcctOptions) { o.Secret = nil }, "secret: missing"},
		{"unbounded", func(o *AcctOptions) { o.Count = 0 }, "ends by itself"},
		{"too many sockets", func(o *AcctOptions) { o.Sockets = 5000 }, "sockets"},
		{"negative first session", func(o *AcctOptions) { o.FirstSession = -1 }, "first session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			got, err := o.withDefaults()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Sockets != DefaultSockets || got.Timeout != DefaultTimeout || got.Retries != DefaultRetries || got.NASIdentifier != DefaultNASIdentifier {
					t.Errorf("defaults not filled in: %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestAcctReportOutput(t *testing.T) {
	r := AcctReport{
		Sessions: 10, Completed: 9, Records: 30, Acked: 29, Sent: 31, Retransmits: 1,
		Failures: map[Cause]int{CauseTimeout: 1}, Elapsed: 2 * time.Second, PacketsPerSec: 14.5,
		P50: time.Millisecond, P99: 2500 * time.Microsecond, FirstError: "timeout: no answer",
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	// The fields bench/run.sh reads.
	want := map[string]any{"acked": 29.0, "failures": 1.0, "packets_per_sec": 14.5, "p50_ms": 1.0, "p99_ms": 2.5,
		"packets_sent": 31.0, "elapsed_s": 2.0, "sessions_completed": 9.0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (JSON %s)", k, got[k], v, b)
		}
	}
	if c, _ := got["failure_causes"].(map[string]any); c["timeout"] != 1.0 {
		t.Errorf("failure_causes = %v", got["failure_causes"])
	}

	a, err := json.Marshal(AcctAck{Session: 3, AcctSessionID: AcctSessionID(3), Kind: AcctInterim, InputOctets: 5 << 32, SessionTime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		AcctAck
		SessionSeconds int64 `json:"session_seconds"`
	}
	if err := json.Unmarshal(a, &back); err != nil || back.Kind != AcctInterim || back.InputOctets != 5<<32 || back.SessionSeconds != 60 {
		t.Errorf("AcctAck JSON %s: %+v, %v", a, back, err)
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"29 acknowledged of 30 (1 failed)", "p99 2.50 ms", "failure:         timeout: 1", "first error:"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, text.String())
		}
	}
}
