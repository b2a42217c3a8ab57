package radiusd_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2868"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/vendors/microsoft"
	"layeh.com/radius/vendors/wispr"

	"keycard/eaptls"
	"keycard/eaptls/eaptlstest"
	"keycard/radiusd"
	"keycard/radiusd/radiustest"
	"keycard/vouchers"
)

var testSecret = []byte("lobby-shared-secret-0123456789")

// fixture is a running server on 127.0.0.1:0 with one NAS (the test
// itself), a fake Authorizer and a throwaway PKI, at a fixed time.
type fixture struct {
	t      testing.TB
	now    time.Time
	pki    *radiustest.PKI
	auth   *radiustest.Authorizer
	reg    *prometheus.Registry
	server *radiusd.Server
	addr   netip.AddrPort
	logs   *syncBuffer
	skew   atomic.Int64 // added to now by the server's clock; tests advance it
}

type syncBuffer struct {
	mu       sync.Mutex
	b        bytes.Buffer
	watchers map[string]chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s, ch := range b.watchers {
		if bytes.Contains(p, []byte(s)) {
			close(ch)
			delete(b.watchers, s)
		}
	}
	return b.b.Write(p)
}

// watch returns a channel closed when a log line containing s is written.
func (b *syncBuffer) watch(s string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.watchers == nil {
		b.watchers = map[string]chan struct{}{}
	}
	ch := make(chan struct{})
	b.watchers[s] = ch
	return ch
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newFixture(t testing.TB, cfg radiusd.Config) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC), auth: &radiustest.Authorizer{},
		reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	f.pki = radiustest.NewPKI(t, f.now)
	if cfg.AuthListen == nil {
		cfg.AuthListen = []string{"127.0.0.1:0"}
	}
	if cfg.RejectDelay == 0 {
		cfg.RejectDelay = -1 // none, unless the test asks
	}
	var err error
	f.server, err = radiusd.New(cfg, radiusd.Deps{
		NAS: radiustest.NASList{
			{Name: "ap-lobby", Network: netip.MustParsePrefix("127.0.0.1/32"), Secret: testSecret},
			{Name: "ap-lobby-v6", Network: netip.MustParsePrefix("::1/128"), Secret: testSecret},
		},
		Authorizer:        f.auth,
		ServerCertificate: f.pki.Server,
		ClientCAs:         f.pki.Roots,
		Logger:            slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry:          f.reg,
		Now:               func() time.Time { return f.now.Add(time.Duration(f.skew.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := f.server.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	f.addr = f.server.Addrs()[0]
	done := make(chan error, 1)
	go func() { done <- f.server.ListenAndServe(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	})
	return f
}

func (f *fixture) client() *radiustest.Client {
	f.t.Helper()
	c, err := radiustest.Dial(f.addr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return c
}

// device returns a guest device's TLS configuration with a fresh
// certificate.
func (f *fixture) device(cn string, usage x509.ExtKeyUsage, version uint16) *tls.Config {
	cert := f.pki.Issue(f.t, cn, f.now, f.now.Add(6*time.Hour), usage)
	cfg := f.pki.ClientTLS(cert, func() time.Time { return f.now })
	cfg.MinVersion, cfg.MaxVersion = version, version
	return cfg
}

// metric returns the value of a counter or gauge with the given labels.
func (f *fixture) metric(name string, labels ...string) float64 {
	f.t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matchLabels(m, labels) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount())
				}
			}
		}
	}
	return 0
}

func matchLabels(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == kv[i] && l.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// exchange is one Access-Request/answer round as the NAS sees it.
type exchange struct {
	req  *radius.Packet
	raw  []byte
	resp *radius.Packet
	wire []byte
}

// nas plays the access point for one device: it wraps the peer's EAP
// packets in Access-Requests and unwraps the answers.
type nas struct {
	t          testing.TB
	client     *radiustest.Client
	station    string
	proxyState []byte
	state      []byte
	rounds     []exchange
	lastRaw    atomic.Pointer[[]byte] // the request on the wire
}

func (n *nas) request(eap []byte) *radius.Packet {
	p := radius.New(radius.CodeAccessRequest, testSecret)
	rfc2865.UserName_SetString(p, "anonymous")
	rfc2865.CallingStationID_SetString(p, n.station)
	rfc2865.NASIdentifier_SetString(p, "ap-lobby")
	rfc2865.FramedMTU_Set(p, 1400)
	if n.state != nil {
		rfc2865.State_Set(p, n.state)
	}
	if n.proxyState != nil {
		rfc2865.ProxyState_Add(p, n.proxyState)
	}
	rfc2869.EAPMessage_Set(p, eap)
	return p
}

// send signs and sends p, checks the answer's authenticators, and keeps
// the State.
func (n *nas) send(p *radius.Packet) (exchange, error) {
	n.t.Helper()
	raw, err := radiustest.Sign(p)
	if err != nil {
		n.t.Fatal(err)
	}
	n.lastRaw.Store(&raw)
	resp, wire, err := n.client.Exchange(raw, testSecret)
	if err != nil {
		return exchange{}, err
	}
	if err := radiustest.CheckResponse(wire, p.Authenticator, testSecret); err != nil {
		n.t.Fatalf("%v answer: %v", resp.Code, err)
	}
	if n.proxyState != nil {
		if got := rfc2865.ProxyState_Get(resp); !bytes.Equal(got, n.proxyState) {
			n.t.Errorf("%v answer: Proxy-State %q, want %q", resp.Code, got, n.proxyState)
		}
	}
	n.state = rfc2865.State_Get(resp)
	x := exchange{req: p, raw: raw, resp: resp, wire: wire}
	n.rounds = append(n.rounds, x)
	return x, nil
}

// authenticate runs a whole EAP-TLS conversation and returns the last
// exchange (Accept or Reject) and the peer's verdict.
func (n *nas) authenticate(peer *eaptlstest.Peer) (exchange, error) {
	n.t.Helper()
	eap, _, err := peer.Step(nil)
	if err != nil {
		n.t.Fatal(err)
	}
	for range 60 {
		x, err := n.send(n.request(eap))
		if err != nil {
			n.t.Fatalf("round %d: %v", len(n.rounds)+1, err)
		}
		in, err := rfc2869.EAPMessage_Lookup(x.resp)
		if err != nil {
			if x.resp.Code == radius.CodeAccessReject {
				return x, errors.New("reject without EAP")
			}
			n.t.Fatalf("%v without EAP-Message", x.resp.Code)
		}
		out, done, perr := peer.Step(in)
		switch x.resp.Code {
		case radius.CodeAccessChallenge:
			if done || perr != nil {
				n.t.Fatalf("peer after Access-Challenge: done %v, %v", done, perr)
			}
			eap = out
		case radius.CodeAccessAccept, radius.CodeAccessReject:
			if !done {
				n.t.Fatalf("%v but the peer is not done", x.resp.Code)
			}
			return x, perr
		default:
			n.t.Fatalf("unexpected %v", x.resp.Code)
		}
	}
	n.t.Fatal("no end after 60 rounds")
	return exchange{}, nil
}

func TestAccessAccept(t *testing.T) {
	decision := vouchers.Decision{
		Allowed:   true,
		Reason:    vouchers.ReasonOK,
		Stay:      vouchers.Stay{ID: 42, Room: "101"},
		Device:    vouchers.Device{ID: 7, StayID: 42, Identity: "device-7"},
		Remaining: 3*time.Hour + 20*time.Minute + 500*time.Millisecond,
	}
	tests := []struct {
		name    string
		version uint16
		policy  vouchers.Policy
	}{
		{"TLS 1.3 with VLAN and bandwidth", tls.VersionTLS13, vouchers.Policy{Name: "premium", VLAN: 120, BandwidthUpKbps: 2000, BandwidthDownKbps: 10000}},
		{"TLS 1.2 plain policy", tls.VersionTLS12, vouchers.Policy{Name: "standard"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, radiusd.Config{AcctInterimInterval: 5 * time.Minute})
			d := decision
			d.Policy = tt.policy
			f.auth.SetDecide(func(*x509.Certificate, time.Time) (vouchers.Decision, error) { return d, nil })
			peer := eaptlstest.NewPeer(f.device("device-7", x509.ExtKeyUsageClientAuth, tt.version), 1000)
			n := &nas{t: t, client: f.client(), station: "02-00-00-00-00-07", proxyState: []byte("proxy-7")}

			x, err := n.authenticate(peer)
			if err != nil {
				t.Fatalf("peer: %v", err)
			}
			if x.resp.Code != radius.CodeAccessAccept {
				t.Fatalf("got %v", x.resp.Code)
			}
			if got := x.resp.Attributes[0].Type; got != rfc2869.MessageAuthenticator_Type {
				t.Errorf("first attribute %d, want Message-Authenticator", got)
			}
			if got := rfc2865.SessionTimeout_Get(x.resp); int64(got) != d.SecondsLeft() || got != 12000 {
				t.Errorf("Session-Timeout %d, want %d", got, d.SecondsLeft())
			}
			if got := rfc2865.UserName_GetString(x.resp); got != "device-7" {
				t.Errorf("User-Name %q", got)
			}
			if got := rfc2865.Class_GetString(x.resp); got != "keycard:stay=42:device=7" {
				t.Errorf("Class %q", got)
			}
			if got := rfc2869.AcctInterimInterval_Get(x.resp); got != 300 {
				t.Errorf("Acct-Interim-Interval %d", got)
			}
			msk, _ := peer.Keys()
			recv, err1 := microsoft.MSMPPERecvKey_Lookup(x.resp, x.req)
			send, err2 := microsoft.MSMPPESendKey_Lookup(x.resp, x.req)
			if err1 != nil || err2 != nil || !bytes.Equal(recv, msk[:32]) || !bytes.Equal(send, msk[32:64]) {
				t.Errorf("MPPE keys do not decrypt to the peer's MSK halves (%v, %v)", err1, err2)
			}
			eap, _ := rfc2869.EAPMessage_Lookup(x.resp)
			if len(eap) != 4 || eaptls.Code(eap[0]) != eaptls.CodeSuccess {
				t.Errorf("EAP-Message %x, want EAP-Success", eap)
			}

			_, ttype, _ := rfc2868.TunnelType_Lookup(x.resp)
			_, medium, _ := rfc2868.TunnelMediumType_Lookup(x.resp)
			tag, group, _ := rfc2868.TunnelPrivateGroupID_LookupString(x.resp)
			up, _ := wispr.WISPrBandwidthMaxUp_Lookup(x.resp)
			down, _ := wispr.WISPrBandwidthMaxDown_Lookup(x.resp)
			if tt.policy.VLAN > 0 {
				if ttype != 13 || medium != rfc2868.TunnelMediumType_Value_IEEE802 || tag != 0 || group != "120" {
					t.Errorf("VLAN attributes: type %d medium %d tag %d group %q", ttype, medium, tag, group)
				}
				if up != 2_000_000 || down != 10_000_000 {
					t.Errorf("bandwidth up %d down %d bit/s", up, down)
				}
			} else if ttype != 0 || group != "" || up != 0 || down != 0 {
				t.Errorf("policy attributes without a policy: type %d group %q up %d down %d", ttype, group, up, down)
			}

			if got := f.metric("keycard_radius_auth_total", "result", "accept", "reason", "ok"); got != 1 {
				t.Errorf("accepts counted %v", got)
			}
			if got := f.metric("keycard_radius_auth_rounds"); got != 1 {
				t.Errorf("rounds observed %v", got)
			}
			if got := f.metric("keycard_radius_eap_sessions"); got != 0 {
				t.Errorf("EAP sessions in flight after the accept: %v", got)
			}
			logs := f.logs.String()
			if !strings.Contains(logs, "outcome=accept") || !strings.Contains(logs, "stay=42") || !strings.Contains(logs, "nas=ap-lobby") {
				t.Errorf("decision log line missing:\n%s", logs)
			}
			if strings.Contains(logs, string(testSecret)) {
				t.Error("the shared secret is in the log")
			}
		})
	}
}

func TestAccessRejectRefusedDecision(t *testing.T) {
	tests := []struct {
		name   string
		usage  x509.ExtKeyUsage
		decide vouchers.Decision
		reason string
	}{
		{"stay ended", x509.ExtKeyUsageClientAuth, vouchers.Decision{Reason: vouchers.ReasonStayEnded, Stay: vouchers.Stay{ID: 9}}, "stay ended"},
		{"revoked", x509.ExtKeyUsageClientAuth, vouchers.Decision{Reason: vouchers.ReasonRevoked}, "revoked"},
		{"server certificate as client", x509.ExtKeyUsageServerAuth, vouchers.Decision{Allowed: true, Reason: vouchers.ReasonOK}, "not a client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, radiusd.Config{})
			f.auth.SetDecide(func(*x509.Certificate, time.Time) (vouchers.Decision, error) { return tt.decide, nil })
			peer := eaptlstest.NewPeer(f.device("device-9", tt.usage, tls.VersionTLS13), 1000)
			n := &nas{t: t, client: f.client(), station: "02-00-00-00-00-09", proxyState: []byte("p")}
			x, err := n.authenticate(peer)
			if !errors.Is(err, eaptlstest.ErrFailure) {
				t.Errorf("peer: %v, want EAP-Failure", err)
			}
			if x.resp.Code != radius.CodeAccessReject {
				t.Fatalf("got %v", x.resp.Code)
			}
			if x.resp.Attributes[0].Type != rfc2869.MessageAuthenticator_Type {
				t.Error("Message-Authenticator is not first")
			}
			if msg := rfc2865.ReplyMessage_GetString(x.resp); !strings.Contains(msg, tt.reason) {
				t.Errorf("Reply-Message %q", msg)
			}
			if _, err := microsoft.MSMPPERecvKey_Lookup(x.resp, x.req); err == nil {
				t.Error("a reject carries keys")
			}
			if got := f.metric("keycard_radius_auth_total", "result", "reject", "reason", tt.reason); got != 1 {
				t.Errorf("rejects counted with reason %q: %v", tt.reason, got)
			}
			if !strings.Contains(f.logs.String(), "outcome=reject") {
				t.Errorf("no decision log line:\n%s", f.logs.String())
			}
		})
	}
}

func TestResumedSessionIsCheckedAgainstTheStay(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			// 300-byte fragments make the certificate flights span several
			// packets, as a real chain (leaf + intermediate) does at 1000.
			f := newFixture(t, radiusd.Config{FragmentSize: 300})
			cfg := f.device("device-5", x509.ExtKeyUsageClientAuth, version)
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			// A classic key share keeps the ClientHello small, so the rounds
			// compare the handshakes, not the key exchange.
			cfg.CurvePreferences = []tls.CurveID{tls.X25519}
			n := &nas{t: t, client: f.client(), station: "02-00-00-00-00-05"}

			first := eaptlstest.NewPeer(cfg, 300)
			if x, err := n.authenticate(first); err != nil || x.resp.Code != radius.CodeAccessAccept {
				t.Fatalf("first: %v %v", x.resp.Code, err)
			}
			fullRounds := len(n.rounds)
			second := eaptlstest.NewPeer(cfg, 300)
			if x, err := n.authenticate(second); err != nil || x.resp.Code != radius.CodeAccessAccept {
				t.Fatalf("second: %v %v", x.resp.Code, err)
			}
			if !second.ConnectionState().DidResume {
				t.Fatal("the second handshake did not resume; the test proves nothing")
			}
			// Resumption is what saves a roaming guest time: it must cost
			// fewer RADIUS round trips than a full handshake (the session
			// ticket is a short handle, so the ClientHello stays small).
			if resumedRounds := len(n.rounds) - fullRounds; resumedRounds >= fullRounds {
				t.Errorf("resumed handshake took %d rounds, full took %d; want fewer", resumedRounds, fullRounds)
			} else {
				t.Logf("rounds: full %d, resumed %d", fullRounds, resumedRounds)
			}
			// A resumed session hands out a ticket that resumes again, so a
			// guest roaming all day keeps the cheap path.
			again := eaptlstest.NewPeer(cfg, 300)
			if x, err := n.authenticate(again); err != nil || x.resp.Code != radius.CodeAccessAccept {
				t.Fatalf("third: %v %v", x.resp.Code, err)
			}
			if !again.ConnectionState().DidResume {
				t.Error("a session resumed from a resumed session's ticket did not resume")
			}
			// The guest checked out: the resumed session must be refused too.
			f.auth.SetDecide(func(*x509.Certificate, time.Time) (vouchers.Decision, error) {
				return vouchers.Decision{Reason: vouchers.ReasonStayEnded}, nil
			})
			third := eaptlstest.NewPeer(cfg, 1000)
			x, err := n.authenticate(third)
			if x.resp.Code != radius.CodeAccessReject || !errors.Is(err, eaptlstest.ErrFailure) {
				t.Fatalf("after checkout: %v %v", x.resp.Code, err)
			}
			if got := f.auth.Calls(); got != 4 {
				t.Errorf("Authorizer called %d times, want 4 (full and resumed handshakes alike)", got)
			}
		})
	}
}

func TestSilentDrops(t *testing.T) {
	f := newFixture(t, radiusd.Config{})
	c := f.client()
	c.Timeout = 300 * time.Millisecond
	identity := []byte{2, 0, 0, 14, 1, 'a', 'n', 'o', 'n', 'y', 'm', 'o', 'u', 's'}

	wrong := radius.New(radius.CodeAccessRequest, []byte("not-the-lobby-secret-at-all"))
	rfc2869.EAPMessage_Set(wrong, identity)
	wrongRaw, _ := radiustest.Sign(wrong)

	unsigned := radius.New(radius.CodeAccessRequest, testSecret)
	rfc2869.EAPMessage_Set(unsigned, identity)
	unsignedRaw, _ := unsigned.Encode()

	statusUnsigned, _ := radius.New(radius.CodeStatusServer, testSecret).Encode()

	acct := radius.New(radius.CodeAccountingRequest, testSecret)
	acctRaw, _ := radiustest.Sign(acct)

	tests := []struct {
		name  string
		raw   []byte
		cause string
	}{
		{"wrong shared secret", wrongRaw, "bad_message_authenticator"},
		{"missing Message-Authenticator", unsignedRaw, "missing_message_authenticator"},
		{"Status-Server without Message-Authenticator", statusUnsigned, "missing_message_authenticator"},
		{"accounting on the auth port", acctRaw, "bad_code"},
		{"short", []byte{1, 2, 3}, "short"},
		{"oversized", make([]byte, 4097), "oversized"},
		{"Length beyond the datagram", append([]byte{1, 0, 0x10, 0}, make([]byte, 16)...), "short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.metric("keycard_radius_dropped_total", "cause", tt.cause)
			if err := c.Send(tt.raw); err != nil {
				t.Fatal(err)
			}
			if b, err := c.Receive(); !errors.Is(err, radiustest.ErrNoAnswer) {
				t.Fatalf("got an answer (%x) or error %v", b, err)
			}
			if got := f.metric("keycard_radius_dropped_total", "cause", tt.cause); got != before+1 {
				t.Errorf("dropped{cause=%s} = %v, want %v", tt.cause, got, before+1)
			}
		})
	}
	// Several drops of one cause from one NAS log one line.
	if n := strings.Count(f.logs.String(), "cause=missing_message_authenticator"); n != 1 {
		t.Errorf("%d log lines for missing_message_authenticator, want 1 (rate limited)", n)
	}
}

func TestRetransmissionAnsweredFromCache(t *testing.T) {
	f := newFixture(t, radiusd.Config{})
	peer := eaptlstest.NewPeer(f.device("device-3", x509.ExtKeyUsageClientAuth, tls.VersionTLS13), 1000)
	n := &nas{t: t, client: f.client(), station: "02-00-00-00-00-03", proxyState: []byte("ps")}

	// The first round starts a conversation; its retransmission must get
	// the same bytes (same State) without starting another.
	eap, _, _ := peer.Step(nil)
	first, err := n.send(n.request(eap))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, again, err := n.client.Exchange(first.raw, testSecret); err != nil || !bytes.Equal(again, first.wire) {
			t.Errorf("retransmission got a different answer (%v)", err)
		}
	}
	if got := f.metric("keycard_radius_eap_sessions"); got != 1 {
		t.Errorf("%v conversations in flight, want 1", got)
	}

	// Finish, then retransmit the last request: the Accept comes from the
	// cache, the Authorizer is not asked again.
	in, _ := rfc2869.EAPMessage_Lookup(first.resp)
	n.state = rfc2865.State_Get(first.resp)
	for {
		out, done, err := peer.Step(in)
		if err != nil || done {
			break
		}
		x, err := n.send(n.request(out))
		if err != nil {
			t.Fatal(err)
		}
		in, _ = rfc2869.EAPMessage_Lookup(x.resp)
	}
	last := n.rounds[len(n.rounds)-1]
	if last.resp.Code != radius.CodeAccessAccept {
		t.Fatalf("last answer %v", last.resp.Code)
	}
	_, again, err := n.client.Exchange(last.raw, testSecret)
	if err != nil || !bytes.Equal(again, last.wire) {
		t.Errorf("retransmitted Access-Request: %v, same bytes %v", err, bytes.Equal(again, last.wire))
	}
	if got := f.auth.Calls(); got != 1 {
		t.Errorf("Authorizer called %d times, want 1", got)
	}
	if got := f.metric("keycard_radius_auth_total", "result", "accept"); got != 1 {
		t.Errorf("accepts counted %v, want 1", got)
	}
	if got := f.metric("keycard_radius_reply_cache_hits_total"); got != 3 {
		t.Errorf("cache hits %v, want 3", got)
	}

	// Same Identifier, new authenticator: a new request, not a cache hit.
	p := n.request([]byte{2, 9, 0, 6, 1, 'x'})
	p.Identifier = last.req.Identifier
	rfc2865.State_Del(p)
	if x, err := n.send(p); err != nil || x.resp.Code != radius.CodeAccessChallenge {
		t.Errorf("new request with a reused Identifier: %v", err)
	}
}

func TestStatusServer(t *testing.T) {
	f := newFixture(t, radiusd.Config{})
	c := f.client()
	p := radius.New(radius.CodeStatusServer, testSecret)
	rfc2865.ProxyState_Add(p, []byte("status"))
	raw, _ := radiustest.Sign(p)
	resp, wire, err := c.Exchange(raw, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != radius.CodeAccessAccept {
		t.Errorf("Status-Server answered with %v", resp.Code)
	}
	if err := radiustest.CheckResponse(wire, p.Authenticator, testSecret); err != nil {
		t.Error(err)
	}
	if got := rfc2865.ProxyState_GetString(resp); got != "status" {
		t.Errorf("Proxy-State %q", got)
	}
}

func TestEAPStartFloodKeepsOneConversationPerDevice(t *testing.T) {
	f := newFixture(t, radiusd.Config{EAPSessions: 8})
	n := &nas{t: t, client: f.client(), station: "02-00-00-00-00-66"}
	var states [][]byte
	for i := range 50 {
		n.state = nil
		x, err := n.send(n.request([]byte{2, byte(i), 0, 6, 1, 'x'}))
		if err != nil {
			t.Fatal(err)
		}
		if x.resp.Code != radius.CodeAccessChallenge {
			t.Fatalf("start %d: %v", i, x.resp.Code)
		}
		states = append(states, n.state)
	}
	if got := f.metric("keycard_radius_eap_sessions"); got != 1 {
		t.Errorf("%v conversations in flight for one device, want 1", got)
	}

	// Another guest still gets in.
	other := &nas{t: t, client: f.client(), station: "02-00-00-00-00-01"}
	peer := eaptlstest.NewPeer(f.device("device-1", x509.ExtKeyUsageClientAuth, tls.VersionTLS13), 1000)
	if x, err := other.authenticate(peer); err != nil || x.resp.Code != radius.CodeAccessAccept {
		t.Fatalf("other guest: %v %v", x.resp.Code, err)
	}

	// A replaced conversation is gone: its State gets a reject.
	n.state = states[0]
	x, err := n.send(n.request([]byte{2, 1, 0, 6, 13, 0}))
	if err != nil || x.resp.Code != radius.CodeAccessReject {
		t.Fatalf("old State: %v %v", x.resp.Code, err)
	}
	if got := f.metric("keycard_radius_auth_total", "result", "reject", "reason", "unknown EAP conversation"); got != 1 {
		t.Errorf("unknown-conversation rejects %v", got)
	}

	// Many devices: the table stays within its bound.
	for i := range 20 {
		d := &nas{t: t, client: n.client, station: fmt.Sprintf("02-00-00-00-01-%02x", i)}
		if _, err := d.send(d.request([]byte{2, 0, 0, 6, 1, 'x'})); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.metric("keycard_radius_eap_sessions"); got > 8 {
		t.Errorf("%v conversations in flight, bound is 8", got)
	}
}

func TestRejectDelayDoesNotHoldAWorker(t *testing.T) {
	f := newFixture(t, radiusd.Config{Workers: 1, RejectDelay: time.Hour})
	c := f.client()
	// Without EAP-Message: rejected, after an hour.
	p := radius.New(radius.CodeAccessRequest, testSecret)
	rfc2865.UserName_SetString(p, "someone")
	raw, _ := radiustest.Sign(p)
	if err := c.Send(raw); err != nil {
		t.Fatal(err)
	}
	// The only worker is free: Status-Server is answered now.
	st := radius.New(radius.CodeStatusServer, testSecret)
	stRaw, _ := radiustest.Sign(st)
	resp, _, err := c.Exchange(stRaw, testSecret)
	if err != nil || resp.Code != radius.CodeAccessAccept {
		t.Fatalf("Status-Server behind a delayed reject: %v\n%s", err, f.logs.String())
	}
	// Shutdown sends the pending reject at once.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := c.Receive()
	if err != nil {
		t.Fatalf("delayed reject not flushed at shutdown: %v", err)
	}
	if !radius.IsAuthenticResponse(b, raw, testSecret) || radius.Code(b[0]) != radius.CodeAccessReject {
		t.Errorf("flushed answer %x", b)
	}
	if got := f.metric("keycard_radius_auth_total", "result", "reject", "reason", "not EAP"); got != 1 {
		t.Errorf("not-EAP rejects %v", got)
	}
}

func TestListensOnIPv4AndIPv6(t *testing.T) {
	if ln, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	f := newFixture(t, radiusd.Config{AuthListen: []string{"127.0.0.1:0", "[::1]:0"}})
	addrs := f.server.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("listening on %v", addrs)
	}
	for _, a := range addrs {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a.Addr(), 0)))
		if err != nil {
			t.Fatal(err)
		}
		c := &radiustest.Client{Conn: conn, Server: a, Timeout: 2 * time.Second}
		p := radius.New(radius.CodeStatusServer, testSecret)
		raw, _ := radiustest.Sign(p)
		resp, _, err := c.Exchange(raw, testSecret)
		c.Close()
		if err != nil || resp.Code != radius.CodeAccessAccept {
			t.Errorf("Status-Server to %v: %v", a, err)
		}
	}
}

func TestDuplicateInProgressIsNotRunTwice(t *testing.T) {
	f := newFixture(t, radiusd.Config{})
	n := &nas{t: t, client: f.client(), station: "02-00-00-00-00-04"}
	dropped := f.logs.watch("cause=duplicate_in_progress")
	f.auth.SetDecide(func(*x509.Certificate, time.Time) (vouchers.Decision, error) {
		// The NAS gives up waiting and retransmits while the first copy is
		// still being decided.
		if err := n.client.Send(*n.lastRaw.Load()); err != nil {
			return vouchers.Decision{}, err
		}
		select {
		case <-dropped:
		case <-time.After(5 * time.Second):
			return vouchers.Decision{}, errors.New("the duplicate was not dropped")
		}
		return vouchers.Decision{Allowed: true, Reason: vouchers.ReasonOK, Remaining: time.Hour}, nil
	})
	peer := eaptlstest.NewPeer(f.device("device-4", x509.ExtKeyUsageClientAuth, tls.VersionTLS13), 1000)
	x, err := n.authenticate(peer)
	if err != nil || x.resp.Code != radius.CodeAccessAccept {
		t.Fatalf("%v %v\n%s", x.resp.Code, err, f.logs.String())
	}
	if got := f.auth.Calls(); got != 1 {
		t.Errorf("Authorizer called %d times, want 1", got)
	}
	if got := f.metric("keycard_radius_dropped_total", "cause", "duplicate_in_progress"); got != 1 {
		t.Errorf("duplicates dropped: %v", got)
	}
	// Once answered, the same retransmission gets the cached Accept.
	if _, again, err := n.client.Exchange(x.raw, testSecret); err != nil || !bytes.Equal(again, x.wire) {
		t.Errorf("retransmission after the answer: %v", err)
	}
}

// TestHalfOpenConversationIsCheap starts many EAP conversations that never
// send a ClientHello (the cost a device flooding EAP starts imposes) and
// measures the server's heap per conversation, reply cache included.
func TestHalfOpenConversationIsCheap(t *testing.T) {
	const n = 2000
	f := newFixture(t, radiusd.Config{EAPSessions: 2 * n, ReplyCacheSize: 2 * n})
	c := f.client()
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := range n {
		d := &nas{t: t, client: c, station: fmt.Sprintf("02-00-00-%02x-%02x-%02x", i>>16, (i>>8)&0xff, i&0xff)}
		x, err := d.send(d.request([]byte{2, 0, 0, 6, 1, 'x'}))
		if err != nil || x.resp.Code != radius.CodeAccessChallenge {
			t.Fatalf("start %d: %v %v", i, x.resp.Code, err)
		}
	}
	if got := f.metric("keycard_radius_eap_sessions"); got != n {
		t.Fatalf("%v conversations in flight, want %d", got, n)
	}
	after := heap()
	per := float64(after-min(before, after)) / n
	t.Logf("half-open EAP conversation: %.0f bytes of heap each (reply cache included)", per)
	if per > 16*1024 {
		t.Errorf("a half-open conversation costs %.0f bytes; the goal is at most 16 KiB", per)
	}
}

// A renewed server certificate is used from the next handshake on, without
// a restart.
func TestServerCertificateRenewal(t *testing.T) {
	f := newFixture(t, radiusd.Config{})
	served := func() *x509.Certificate {
		t.Helper()
		n := &nas{t: t, client: f.client(), station: "02-00-00-00-00-0c"}
		peer := eaptlstest.NewPeer(f.device("device-12", x509.ExtKeyUsageClientAuth, tls.VersionTLS13), 1000)
		if x, err := n.authenticate(peer); err != nil || x.resp.Code != radius.CodeAccessAccept {
			t.Fatalf("%v %v", x.resp.Code, err)
		}
		return peer.ConnectionState().PeerCertificates[0]
	}
	before := served()
	renewed := f.pki.Issue(t, "radius.keycard.test", f.now, f.now.Add(24*time.Hour), x509.ExtKeyUsageServerAuth)
	if err := f.server.SetServerCertificate(renewed); err != nil {
		t.Fatal(err)
	}
	after := served()
	if after.SerialNumber.Cmp(before.SerialNumber) == 0 || !after.Equal(renewed.Leaf) {
		t.Errorf("after renewal the server still presents serial %v", after.SerialNumber)
	}
	if err := f.server.SetServerCertificate(tls.Certificate{}); err == nil {
		t.Error("an empty certificate was accepted")
	}
}

// Someone who captured a guest's certificate (it travels in clear in TLS
// 1.2) but lacks its key learns nothing about the guest's stay: the stay
// policy is not asked, and the reject is not logged against the guest.
func TestStolenCertificateWithoutKey(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			f := newFixture(t, radiusd.Config{})
			f.auth.SetDecide(func(*x509.Certificate, time.Time) (vouchers.Decision, error) {
				return vouchers.Decision{Reason: vouchers.ReasonRevoked, Stay: vouchers.Stay{ID: 42}, Device: vouchers.Device{ID: 7}}, nil
			})
			cfg := f.device("device-7", x509.ExtKeyUsageClientAuth, version)
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates[0].PrivateKey = other // the guest's certificate, someone else's key
			n := &nas{t: t, client: f.client(), station: "02-00-00-00-00-07"}
			x, err := n.authenticate(eaptlstest.NewPeer(cfg, 1000))
			if err == nil || x.resp.Code != radius.CodeAccessReject {
				t.Fatalf("got %v %v, want Access-Reject", x.resp.Code, err)
			}
			if got := f.auth.Calls(); got != 0 {
				t.Errorf("the stay policy was asked %d times for a device that did not prove its key", got)
			}
			if msg := rfc2865.ReplyMessage_GetString(x.resp); strings.Contains(msg, "revoked") {
				t.Errorf("the reject reveals the guest's state: %q", msg)
			}
			if strings.Contains(f.logs.String(), "stay=42") {
				t.Errorf("the reject was logged against the guest's stay:\n%s", f.logs.String())
			}
		})
	}
}

// A device revoked while its handshake is in flight is refused: the stay
// policy is asked only after the device has proven its key, and asked again
// if the device then holds back its last packet for more than a second.
func TestRevokedDuringHandshake(t *testing.T) {
	revoked := func(*x509.Certificate, time.Time) (vouchers.Decision, error) {
		return vouchers.Decision{Reason: vouchers.ReasonRevoked}, nil
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, late := range []bool{false, true} {
			name := tls.VersionName(version) + " before the proof of key"
			if late {
				name = tls.VersionName(version) + " before the last packet"
			}
			t.Run(name, func(t *testing.T) {
				f := newFixture(t, radiusd.Config{})
				peer := eaptlstest.NewPeer(f.device("device-8", x509.ExtKeyUsageClientAuth, version), 1000)
				n := &nas{t: t, client: f.client(), station: "02-00-00-00-00-08"}
				eap, _, err := peer.Step(nil)
				if err != nil {
					t.Fatal(err)
				}
				for round := 1; ; round++ {
					if round > 60 {
						t.Fatal("no end after 60 rounds")
					}
					x, err := n.send(n.request(eap))
					if err != nil {
						t.Fatal(err)
					}
					in, _ := rfc2869.EAPMessage_Lookup(x.resp)
					out, done, perr := peer.Step(in)
					if x.resp.Code != radius.CodeAccessChallenge {
						if x.resp.Code != radius.CodeAccessReject || !errors.Is(perr, eaptlstest.ErrFailure) {
							t.Fatalf("device revoked mid-handshake got %v (peer: %v)", x.resp.Code, perr)
						}
						if got := f.metric("keycard_radius_auth_total", "result", "reject", "reason", "revoked"); got != 1 {
							t.Errorf("rejects for revoked: %v", got)
						}
						return
					}
					if done || perr != nil {
						t.Fatalf("peer: done %v, %v", done, perr)
					}
					switch calls := f.auth.Calls(); {
					case !late:
						if calls != 0 {
							t.Fatalf("the stay policy was asked before the device proved its key (round %d)", round)
						}
						f.auth.SetDecide(revoked)
					case calls == 1:
						// Admitted; the final flight is out. The device waits
						// two seconds before its last packet, and staff
						// revoke it meanwhile.
						f.auth.SetDecide(revoked)
						f.skew.Add(int64(2 * time.Second))
					}
					eap = out
				}
			})
		}
	}
}
