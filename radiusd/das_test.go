package radiusd_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"keycard/radiusd"
	"keycard/radiusd/dastest"
)

var dasSecret = []byte("das-shared-secret-0123456789")

var loopback = netip.MustParseAddr("127.0.0.1")

// dasNAS is an access point whose DAS is r.
func dasNAS(r *dastest.Responder) radiusd.NAS {
	return radiusd.NAS{Name: "ap-lobby", Network: netip.MustParsePrefix("127.0.0.0/8"), Secret: dasSecret, DASPort: r.Port()}
}

var guest = radiusd.SessionRef{
	UserName:         "device-7",
	AcctSessionID:    "5F3A0C1D-00000012",
	CallingStationID: "02-00-00-00-00-01",
	NASIdentifier:    "ap-lobby",
	NASIPAddress:     netip.MustParseAddr("10.20.0.5"),
}

type dasHarness struct {
	client *radiusd.DASClient
	reg    *prometheus.Registry
	logs   *bytes.Buffer
	logMu  *sync.Mutex
}

func newDASClient(t testing.TB, opts radiusd.DASOptions) *dasHarness {
	t.Helper()
	h := &dasHarness{reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	if opts.Timeout == 0 {
		opts.Timeout = 200 * time.Millisecond
	}
	opts.Registry = h.reg
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(lockedWriter{h.logMu, h.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := radiusd.NewDASClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h.client = c
	return h
}

func (h *dasHarness) log() string {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return h.logs.String()
}

// counter reads one series of the client's metrics.
func (h *dasHarness) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// The AP drops the device at checkout: the request is authentic to a
// hostapd-like DAS (Message-Authenticator required), names the session as
// the NAS did, and carries a fresh Event-Timestamp.
func TestDASDisconnectAck(t *testing.T) {
	r := dastest.New(t, dasSecret, dastest.Ack)
	now := time.Date(2031, 5, 4, 11, 0, 0, 0, time.UTC)
	h := newDASClient(t, radiusd.DASOptions{Now: func() time.Time { return now }})

	res, err := h.client.Disconnect(context.Background(), radiusd.DASTarget{NAS: dasNAS(r), Addr: loopback}, guest)
	if err != nil || res.Outcome != radiusd.DASAck || res.Attempts != 1 || res.RTT <= 0 || res.ErrorCause != 0 {
		t.Fatalf("Disconnect = %+v, %v", res, err)
	}
	if r.Rejected() != 0 {
		t.Fatalf("%d requests failed the responder's authenticator checks", r.Rejected())
	}
	reqs := r.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	p := reqs[0].Packet
	if p.Code != radius.CodeDisconnectRequest {
		t.Errorf("code %v", p.Code)
	}
	if p.Attributes[0].Type != 80 {
		t.Errorf("first attribute is %d, want Message-Authenticator (BlastRADIUS)", p.Attributes[0].Type)
	}
	if rfc2865.UserName_GetString(p) != guest.UserName || rfc2866.AcctSessionID_GetString(p) != guest.AcctSessionID ||
		rfc2865.CallingStationID_GetString(p) != guest.CallingStationID || rfc2865.NASIdentifier_GetString(p) != guest.NASIdentifier ||
		!rfc2865.NASIPAddress_Get(p).Equal(guest.NASIPAddress.AsSlice()) {
		t.Errorf("identifiers: %v", p.Attributes)
	}
	if ts := rfc2869.EventTimestamp_Get(p); !ts.Equal(now) {
		t.Errorf("Event-Timestamp %v, want %v", ts, now)
	}
	if got := h.counter(t, "keycard_das_requests_total", map[string]string{"kind": "disconnect", "outcome": "ack"}); got != 1 {
		t.Errorf("ack counter %v", got)
	}
	logs := h.log()
	if !strings.Contains(logs, "outcome=ack") || !strings.Contains(logs, "nas=ap-lobby") || !strings.Contains(logs, guest.AcctSessionID) {
		t.Errorf("log line lacks the outcome, NAS or session:\n%s", logs)
	}
	if strings.Contains(logs, string(dasSecret)) {
		t.Errorf("log carries the secret:\n%s", logs)
	}
}

func TestDASNAK(t *testing.T) {
	tests := []struct {
		name   string
		cause  uint32
		want   radiusd.DASOutcome
		metric string
	}{
		{"session gone", 503, radiusd.DASNotFound, "not_found"},
		{"unsupported attribute", 401, radiusd.DASNAK, "nak"},
		{"NAS mismatch", 403, radiusd.DASNAK, "nak"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dastest.New(t, dasSecret, dastest.NAK(tt.cause))
			h := newDASClient(t, radiusd.DASOptions{})
			res, err := h.client.Disconnect(context.Background(), radiusd.DASTarget{NAS: dasNAS(r), Addr: loopback}, guest)
			if err != nil || res.Outcome != tt.want || res.ErrorCause != int(tt.cause) || res.Attempts != 1 {
				t.Fatalf("Disconnect = %+v, %v", res, err)
			}
			if got := h.counter(t, "keycard_das_requests_total", map[string]string{"kind": "disconnect", "outcome": tt.metric}); got != 1 {
				t.Errorf("%s counter %v", tt.metric, got)
			}
		})
	}
}

// An AP that does not answer gets the same packet again, with backoff,
// then the request ends as no_answer.
func TestDASNoAnswerRetries(t *testing.T) {
	r := dastest.New(t, dasSecret, dastest.Silent)
	h := newDASClient(t, radiusd.DASOptions{Timeout: 10 * time.Millisecond, Retries: 2})
	start := time.Now()
	res, err := h.client.Disconnect(context.Background(), radiusd.DASTarget{NAS: dasNAS(r), Addr: loopback}, guest)
	if err != nil || res.Outcome != radiusd.DASNoAnswer || res.Attempts != 3 || res.RTT != 0 {
		t.Fatalf("Disconnect = %+v, %v", res, err)
	}
	if d := time.Since(start); d < 70*time.Millisecond {
		t.Errorf("gave up after %v; 10+20+40 ms of backoff expected", d)
	}
	reqs := r.WaitRequests(3, time.Second)
	if len(reqs) != 3 {
		t.Fatalf("%d packets sent, want 3", len(reqs))
	}
	for _, q := range reqs[1:] {
		if !bytes.Equal(q.Raw, reqs[0].Raw) {
			t.Errorf("retransmission differs from the first packet (Identifier and authenticator must stay)")
		}
	}
	if got := h.counter(t, "keycard_das_requests_total", map[string]string{"kind": "disconnect", "outcome": "no_answer"}); got != 1 {
		t.Errorf("no_answer counter %v", got)
	}
}

// Forged and damaged answers are ignored and counted; the client keeps
// waiting for the authentic one.
func TestDASIgnoresForgedAnswers(t *testing.T) {
	tests := []struct {
		name   string
		reason string
		forge  func(req *radius.Packet, reply []byte) []byte
	}{
		{"wrong secret", "bad_authenticator", func(req *radius.Packet, reply []byte) []byte {
			b, _ := dastest.Reply(radius.CodeDisconnectACK, req, nil, []byte("not-the-shared-secret"))
			return b
		}},
		{"altered attribute", "bad_authenticator", func(req *radius.Packet, reply []byte) []byte {
			b := slices.Clone(reply)
			b[len(b)-1] ^= 1
			return b
		}},
		{"wrong Message-Authenticator", "bad_message_authenticator", func(req *radius.Packet, reply []byte) []byte {
			// A valid Response Authenticator over a bad Message-Authenticator.
			b := slices.Clone(reply)
			b[22] ^= 1
			copy(b[4:20], req.Authenticator[:])
			reauth(b, dasSecret)
			return b
		}},
		{"wrong Identifier", "unknown", func(req *radius.Packet, reply []byte) []byte {
			b := slices.Clone(reply)
			b[1]++
			return b
		}},
		{"access request code", "unexpected_code", func(req *radius.Packet, reply []byte) []byte {
			b, _ := dastest.Reply(radius.CodeAccessAccept, req, nil, dasSecret)
			return b
		}},
		{"truncated", "malformed", func(req *radius.Packet, reply []byte) []byte { return reply[:10] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dastest.New(t, dasSecret, dastest.Ack)
			r.SetTamper(func(req *radius.Packet, reply []byte) [][]byte { return [][]byte{tt.forge(req, reply), reply} })
			h := newDASClient(t, radiusd.DASOptions{Retries: -1, Timeout: 2 * time.Second})
			res, err := h.client.Disconnect(context.Background(), radiusd.DASTarget{NAS: dasNAS(r), Addr: loopback}, guest)
			if err != nil || res.Outcome != radiusd.DASAck || res.Attempts != 1 {
				t.Fatalf("Disconnect = %+v, %v", res, err)
			}
			if got := h.counter(t, "keycard_das_answers_ignored_total", map[string]string{"reason": tt.reason}); got != 1 {
				t.Errorf("ignored{reason=%s} = %v, want 1", tt.reason, got)
			}
		})
	}
}

// reauth recomputes the Response Authenticator of b, whose Authenticator
// field holds the Request Authenticator.
func reauth(b, secret []byte) {
	p, _ := radius.Parse(b, secret)
	sum, _ := p.Encode()
	copy(b[4:20], sum[4:20])
}

// An authentic answer from another address or port than the request went
// to is not an answer.
func TestDASAnswerFromElsewhereIgnored(t *testing.T) {
	r := dastest.New(t, dasSecret, dastest.Ack)
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	r.SetTamper(func(req *radius.Packet, reply []byte) [][]byte {
		reqs := r.Requests()
		other.WriteToUDPAddrPort(reply, reqs[len(reqs)-1].From)
		return nil
	})
	h := newDASClient(t, radiusd.DASOptions{Timeout: 100 * time.Millisecond, Retries: -1})
	res, err := h.client.Disconnect(context.Background(), radiusd.DASTarget{NAS: dasNAS(r), Addr: loopback}, guest)
	if err != nil || res.Outcome != radiusd.DASNoAnswer {
		t.Fatalf("Disconnect = %+v, %v", res, err)
	}
	if got := h.counter(t, "keycard_das_answers_ignored_total", map[string]string{"reason": "unknown"}); got != 1 {
		t.Errorf("ignored{reason=unknown} = %v", got)
	}
}

// NAS.DASAddress, when set, is where the request goes, whatever address
// the accounting came from.
func TestDASAddressOverride(t *testing.T) {
	r := dastest.New(t, dasSecret, dastest.Ack)
	nas := dasNAS(r)
	nas.DASAddress = loopback
	h := newDASClient(t, radiusd.DASOptions{Timeout: 50 * time.Millisecond, Retries: -1})
	// 192.0.2.1 (TEST-NET-1) answers nothing: only the override can ACK.
	res, err := h.client.Disconnect(context.Background(), radiusd.DASTarget{NAS: nas, Addr: netip.MustParseAddr("192.0.2.1")}, guest)
	if err != nil || res.Outcome != radiusd.DASAck {
		t.Fatalf("Disconnect = %+v, %v", res, err)
	}
	if _, err := h.client.Disconnect(context.Background(), radiusd.DASTarget{NAS: dasNAS(r)}, guest); err == nil {
		t.Error("Disconnect with no address succeeded")
	}
}

func TestDASIdentifierFromRand(t *testing.T) {
	r := dastest.New(t, dasSecret, dastest.Ack)
	h := newDASClient(t, radiusd.DASOptions{Rand: bytes.NewReader([]byte{0xA7, 0x13})})
	target := radiusd.DASTarget{NAS: dasNAS(r), Addr: loopback}
	for _, want := range []byte{0xA7, 0x13} {
		if res, err := h.client.Disconnect(context.Background(), target, guest); err != nil || res.Outcome != radiusd.DASAck {
			t.Fatalf("Disconnect = %+v, %v", res, err)
		}
		reqs := r.Requests()
		if got := reqs[len(reqs)-1].Packet.Identifier; got != want {
			t.Errorf("Identifier %#x, want %#x", got, want)
		}
	}
}

func TestDASCoA(t *testing.T) {
	r := dastest.New(t, dasSecret, dastest.Ack)
	h := newDASClient(t, radiusd.DASOptions{})
	nas := dasNAS(r)
	nas.Profile = "ruckus"

	// A NAS that does not take CoA gets nothing.
	res, err := h.client.CoA(context.Background(), radiusd.DASTarget{NAS: nas, Addr: loopback}, guest, time.Hour)
	if !errors.Is(err, radiusd.ErrCoANotSupported) || res.Outcome != radiusd.DASError || len(r.Requests()) != 0 {
		t.Fatalf("CoA to a NAS without CoA = %+v, %v (%d sent)", res, err, len(r.Requests()))
	}

	nas.CoA = true
	nas.CoAPort = r.Port()
	nas.DASPort = 9 // CoA goes to the CoA port, not here
	res, err = h.client.CoA(context.Background(), radiusd.DASTarget{NAS: nas, Addr: loopback}, guest, 2*time.Hour)
	if err != nil || res.Outcome != radiusd.DASAck {
		t.Fatalf("CoA = %+v, %v", res, err)
	}
	p := r.Requests()[0].Packet
	if p.Code != radius.CodeCoARequest || rfc2865.SessionTimeout_Get(p) != 7200 ||
		rfc2865.ServiceType_Get(p) != rfc2865.ServiceType_Value_FramedUser || rfc2866.AcctSessionID_GetString(p) != guest.AcctSessionID {
		t.Errorf("CoA-Request %v", p.Attributes)
	}
	if got := h.counter(t, "keycard_das_requests_total", map[string]string{"kind": "coa", "outcome": "ack"}); got != 1 {
		t.Errorf("coa ack counter %v", got)
	}

	r2 := dastest.New(t, dasSecret, dastest.NAK(503))
	nas.CoAPort = r2.Port()
	if res, err := h.client.CoA(context.Background(), radiusd.DASTarget{NAS: nas, Addr: loopback}, guest, time.Hour); err != nil || res.Outcome != radiusd.DASNotFound {
		t.Errorf("CoA NAK 503 = %+v, %v", res, err)
	}
}

func TestDASRefusesWhatItCannotSend(t *testing.T) {
	r := dastest.New(t, dasSecret, dastest.Ack)
	h := newDASClient(t, radiusd.DASOptions{})
	tests := []struct {
		name string
		nas  func(radiusd.NAS) radiusd.NAS
		ref  radiusd.SessionRef
	}{
		{"unknown profile", func(n radiusd.NAS) radiusd.NAS { n.Profile = "cisco"; return n }, guest},
		{"no secret", func(n radiusd.NAS) radiusd.NAS { n.Secret = nil; return n }, guest},
		{"no session identifier", func(n radiusd.NAS) radiusd.NAS { return n }, radiusd.SessionRef{NASIdentifier: "ap-lobby"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := h.client.Disconnect(context.Background(), radiusd.DASTarget{NAS: tt.nas(dasNAS(r)), Addr: loopback}, tt.ref)
			if err == nil || res.Outcome != radiusd.DASError {
				t.Errorf("Disconnect = %+v, %v", res, err)
			}
		})
	}
	if n := len(r.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestDASContextAndClose(t *testing.T) {
	r := dastest.New(t, dasSecret, dastest.Silent)
	h := newDASClient(t, radiusd.DASOptions{Timeout: time.Minute})
	target := radiusd.DASTarget{NAS: dasNAS(r), Addr: loopback}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.WaitRequests(1, time.Second); cancel() }()
	if res, err := h.client.Disconnect(ctx, target, guest); !errors.Is(err, context.Canceled) || res.Outcome != radiusd.DASError {
		t.Errorf("cancelled Disconnect = %+v, %v", res, err)
	}

	go func() { r.WaitRequests(2, time.Second); h.client.Close() }()
	if res, err := h.client.Disconnect(context.Background(), target, guest); !errors.Is(err, radiusd.ErrDASClientClosed) || res.Outcome != radiusd.DASError {
		t.Errorf("Disconnect pending at Close = %+v, %v", res, err)
	}
	if _, err := h.client.Disconnect(context.Background(), target, guest); !errors.Is(err, radiusd.ErrDASClientClosed) {
		t.Errorf("Disconnect after Close: %v", err)
	}
}

// More requests to one AP than there are Identifiers wait their turn and
// all get through.
func TestDASManyToOneNAS(t *testing.T) {
	r := dastest.New(t, dasSecret, dastest.Ack)
	h := newDASClient(t, radiusd.DASOptions{Timeout: 2 * time.Second})
	results := disconnectMany(h.client, radiusd.DASTarget{NAS: dasNAS(r), Addr: loopback}, 600)
	for i, res := range results {
		if res.Outcome != radiusd.DASAck {
			t.Fatalf("request %d: %+v", i, res)
		}
	}
	if n := len(r.Requests()); n != 600 {
		t.Errorf("responder got %d requests", n)
	}
}

// disconnectMany sends n Disconnect-Requests at once, each for its own
// session.
func disconnectMany(c *radiusd.DASClient, target radiusd.DASTarget, n int) []radiusd.DASResult {
	results := make([]radiusd.DASResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ref := guest
			ref.AcctSessionID = ref.AcctSessionID + "-" + string(rune('a'+i%26)) + strings.Repeat("x", i%7)
			results[i], _ = c.Disconnect(context.Background(), target, ref)
		})
	}
	wg.Wait()
	return results
}

// BenchmarkDisconnect1000 is a checkout wave: 1,000 Disconnect-Requests at
// once to one access point on loopback. It reports the 99th percentile of
// the answer time and the time for all 1,000, and fails unless every one
// is acknowledged.
func BenchmarkDisconnect1000(b *testing.B) {
	r := dastest.New(b, dasSecret, dastest.Ack)
	h := newDASClient(b, radiusd.DASOptions{Logger: slog.New(slog.DiscardHandler)})
	target := radiusd.DASTarget{NAS: dasNAS(r), Addr: loopback}
	var p99s, walls []time.Duration
	for b.Loop() {
		start := time.Now()
		results := disconnectMany(h.client, target, 1000)
		walls = append(walls, time.Since(start))
		rtts := make([]time.Duration, 0, len(results))
		for i, res := range results {
			if res.Outcome != radiusd.DASAck {
				b.Fatalf("request %d: %+v", i, res)
			}
			rtts = append(rtts, res.RTT)
		}
		slices.Sort(rtts)
		p99s = append(p99s, rtts[len(rtts)*99/100-1])
	}
	slices.Sort(p99s)
	slices.Sort(walls)
	b.ReportMetric(float64(p99s[len(p99s)/2].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(walls[len(walls)/2].Microseconds())/1000, "all-ms")
	b.ReportMetric(1, "all-acked")
}
