package radiusd_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"keycard/eaptls"
	"keycard/eaptls/eaptlstest"
	"keycard/radiusd"
	"keycard/radiusd/radiustest"
	"keycard/vouchers"
)

// directNAS plays the access point through Server.HandlePacket: no socket,
// no timing, every answer checked (authenticators, size, Proxy-State).
type directNAS struct {
	t           testing.TB
	server      *radiusd.Server
	remote      netip.AddrPort
	station     string
	framedMTU   uint32
	proxyStates [][]byte
	state       []byte
	// tamper, when set, may change each EAP packet of the peer before it
	// is sent.
	tamper func(eap []byte) []byte
	// between, when set, runs before each request after the first.
	between func(round int)
	rounds  []exchange
}

func newDirectNAS(t testing.TB, f *fixture, station string) *directNAS {
	return &directNAS{t: t, server: f.server, remote: netip.MustParseAddrPort("127.0.0.1:41812"), station: station, framedMTU: 1400}
}

func (n *directNAS) request(eap []byte) *radius.Packet {
	p := radius.New(radius.CodeAccessRequest, testSecret)
	rfc2865.UserName_SetString(p, "anonymous")
	if n.station != "" {
		rfc2865.CallingStationID_SetString(p, n.station)
	}
	rfc2865.NASIdentifier_SetString(p, "ap-lobby")
	if n.framedMTU > 0 {
		rfc2865.FramedMTU_Set(p, rfc2865.FramedMTU(n.framedMTU))
	}
	if n.state != nil {
		rfc2865.State_Set(p, n.state)
	}
	for _, ps := range n.proxyStates {
		rfc2865.ProxyState_Add(p, ps)
	}
	if len(eap) == 0 {
		p.Add(rfc2869.EAPMessage_Type, radius.Attribute{}) // EAP-Start
	} else {
		rfc2869.EAPMessage_Set(p, eap)
	}
	return p
}

// send runs p through the server and checks the answer.
func (n *directNAS) send(p *radius.Packet) exchange {
	n.t.Helper()
	raw, err := radiustest.Sign(p)
	if err != nil {
		n.t.Fatal(err)
	}
	wire, cause := n.server.HandlePacket(n.remote, raw)
	if wire == nil {
		n.t.Fatalf("request of %d bytes dropped: %s", len(raw), cause)
	}
	if len(wire) > radius.MaxPacketLength {
		n.t.Fatalf("answer of %d bytes exceeds %d", len(wire), radius.MaxPacketLength)
	}
	if err := radiustest.CheckResponse(wire, p.Authenticator, testSecret); err != nil {
		n.t.Fatal(err)
	}
	resp, err := radius.Parse(wire, testSecret)
	if err != nil {
		n.t.Fatal(err)
	}
	var echoed [][]byte
	for _, a := range resp.Attributes {
		if a.Type == rfc2865.ProxyState_Type {
			echoed = append(echoed, a.Attribute)
		}
	}
	if !slices.EqualFunc(echoed, n.proxyStates, bytes.Equal) {
		n.t.Errorf("%v: %d Proxy-States echoed, want the %d sent in order", resp.Code, len(echoed), len(n.proxyStates))
	}
	n.state = rfc2865.State_Get(resp)
	x := exchange{req: p, raw: raw, resp: resp, wire: wire}
	n.rounds = append(n.rounds, x)
	return x
}

// authenticate runs a conversation from the peer's first packet eap to the
// Accept or Reject, and returns that exchange and the peer's verdict.
func (n *directNAS) authenticate(peer *eaptlstest.Peer, eap []byte) (exchange, error) {
	n.t.Helper()
	for round := 0; round < 60; round++ {
		if n.tamper != nil {
			eap = n.tamper(eap)
		}
		if round > 0 && n.between != nil {
			n.between(round)
		}
		x := n.send(n.request(eap))
		in, err := rfc2869.EAPMessage_Lookup(x.resp)
		if err != nil {
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

// An access point may ask the server to start the conversation: its first
// Access-Request carries an empty EAP-Message (EAP-Start, RFC 3579 section
// 2.1). The server answers with EAP-Request/Identity and the guest gets in.
func TestEAPStartFromNAS(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			f := newFixture(t, radiusd.Config{})
			n := newDirectNAS(t, f, "02-00-00-00-00-51")
			peer := eaptlstest.NewPeer(f.device("device-51", x509.ExtKeyUsageClientAuth, version), 1000)
			defer peer.Close()

			start := n.request(nil)
			x := n.send(start)
			if x.resp.Code != radius.CodeAccessChallenge {
				t.Fatalf("EAP-Start answered with %v, want Access-Challenge", x.resp.Code)
			}
			state := rfc2865.State_Get(x.resp)
			if len(state) == 0 {
				t.Fatal("no State in the Access-Challenge")
			}
			eap, _ := rfc2869.EAPMessage_Lookup(x.resp)
			var req eaptls.Packet
			if err := req.UnmarshalBinary(eap); err != nil || req.Code != eaptls.CodeRequest || req.Type != eaptls.TypeIdentity {
				t.Fatalf("EAP-Start answered with EAP %x (%v), want Request/Identity", eap, err)
			}
			// A repeated EAP-Start (a new request with the same State) is
			// answered with the same Request/Identity.
			if again := n.send(n.request(nil)); !bytes.Equal(rfc2865.State_Get(again.resp), state) ||
				!bytes.Equal(again.resp.Get(rfc2869.EAPMessage_Type), eap) {
				t.Errorf("repeated EAP-Start: %v", again.resp.Code)
			}
			resp, done, err := peer.Step(eap)
			if err != nil || done || resp[1] != req.Identifier || eaptls.Type(resp[4]) != eaptls.TypeIdentity {
				t.Fatalf("peer answered %x, %v %v", resp, done, err)
			}
			x, err = n.authenticate(peer, resp)
			if err != nil || x.resp.Code != radius.CodeAccessAccept {
				t.Fatalf("after EAP-Start: %v %v", x.resp.Code, err)
			}
			if got := f.metric("keycard_radius_auth_total", "result", "accept"); got != 1 {
				t.Errorf("accepts counted %v", got)
			}
		})
	}
}

// A NAS that retransmits the last request of a conversation after many
// other requests (a busy hotel, RFC 5080 section 2.2.2) still gets the
// Access-Accept, not a late Access-Reject: final answers outlast a flood
// of Challenges and other answers in the reply cache.
func TestAcceptRetransmittedAfterManyRequests(t *testing.T) {
	f := newFixture(t, radiusd.Config{}) // the default reply cache
	n := newDirectNAS(t, f, "02-00-00-00-00-52")
	peer := eaptlstest.NewPeer(f.device("device-52", x509.ExtKeyUsageClientAuth, tls.VersionTLS13), 1000)
	first, _, _ := peer.Step(nil)
	accept, err := n.authenticate(peer, first)
	if err != nil || accept.resp.Code != radius.CodeAccessAccept {
		t.Fatalf("%v %v", accept.resp.Code, err)
	}

	// More than the 4096 replies the cache used to hold, most of them
	// final answers like the Accept.
	const others = 6000
	for i := range others {
		d := newDirectNAS(t, f, fmt.Sprintf("02-00-01-%02x-%02x-%02x", i>>16, (i>>8)&0xff, i&0xff))
		d.remote = netip.AddrPortFrom(d.remote.Addr(), uint16(20000+i%1000))
		if i%4 == 0 {
			// A device starting: an Access-Challenge.
			if x := d.send(d.request([]byte{2, 0, 0, 6, 1, 'x'})); x.resp.Code != radius.CodeAccessChallenge {
				t.Fatalf("start %d: %v", i, x.resp.Code)
			}
		} else {
			// A request without EAP: an Access-Reject.
			p := radius.New(radius.CodeAccessRequest, testSecret)
			rfc2865.UserName_SetString(p, "someone")
			if x := d.send(p); x.resp.Code != radius.CodeAccessReject {
				t.Fatalf("request %d: %v", i, x.resp.Code)
			}
		}
	}
	again, cause := f.server.HandlePacket(n.remote, accept.raw)
	if !bytes.Equal(again, accept.wire) {
		code := "dropped: " + cause
		if len(again) > 0 {
			code = radius.Code(again[0]).String()
		}
		t.Fatalf("retransmitted final request after %d others got %s, want the cached Access-Accept", others, code)
	}
	if got := f.auth.Calls(); got != 1 {
		t.Errorf("Authorizer called %d times, want 1", got)
	}
}

// A retransmitted first request whose Access-Challenge the reply cache has
// let go (it keeps final answers first) is answered by its conversation
// again, with the same State, instead of starting a second conversation
// that would replace the first under the device.
func TestRetransmittedFirstRequestKeepsItsConversation(t *testing.T) {
	f := newFixture(t, radiusd.Config{ReplyCacheSize: 16})
	n := newDirectNAS(t, f, "02-00-00-00-00-58")
	peer := eaptlstest.NewPeer(f.device("device-58", x509.ExtKeyUsageClientAuth, tls.VersionTLS13), 1000)
	defer peer.Close()
	eap, _, _ := peer.Step(nil)
	first := n.send(n.request(eap))
	for i := range 40 { // final answers push the Challenge out of the cache
		d := newDirectNAS(t, f, "")
		d.remote = netip.AddrPortFrom(d.remote.Addr(), uint16(30000+i))
		p := radius.New(radius.CodeAccessRequest, testSecret)
		rfc2865.UserName_SetString(p, "someone")
		d.send(p)
	}
	again, cause := f.server.HandlePacket(n.remote, first.raw)
	if !bytes.Equal(again, first.wire) {
		t.Fatalf("retransmitted first request got another answer (%q)", cause)
	}
	if got := f.metric("keycard_radius_reply_cache_hits_total"); got != 0 {
		t.Fatalf("answered from the cache (%v hits): the test proves nothing", got)
	}
	in, _ := rfc2869.EAPMessage_Lookup(first.resp)
	eap, _, err := peer.Step(in)
	if err != nil {
		t.Fatal(err)
	}
	if x, err := n.authenticate(peer, eap); err != nil || x.resp.Code != radius.CodeAccessAccept {
		t.Fatalf("%v %v", x.resp.Code, err)
	}
}

// Session tickets enter the ticket store only when the conversation ends in
// an Access-Accept. crypto/tls wraps a TLS 1.3 ticket before it has checked
// the device's Finished and before the stay policy runs, so a handshake
// that fails after that must leave nothing that resumes.
func TestFailedHandshakeStoresNoTicket(t *testing.T) {
	revoked := func(*x509.Certificate, time.Time) (vouchers.Decision, error) {
		return vouchers.Decision{Reason: vouchers.ReasonRevoked}, nil
	}
	tests := []struct {
		name   string
		decide func(*x509.Certificate, time.Time) (vouchers.Decision, error)
		// tamper changes the peer's EAP packets.
		tamper func() func([]byte) []byte
		// abandon: the device never acknowledges the final flight.
		abandon bool
		want    radius.Code
		stored  int
	}{
		{name: "accepted", want: radius.CodeAccessAccept, stored: 1},
		{name: "refused by the stay policy", decide: revoked, want: radius.CodeAccessReject},
		{name: "bad client Finished", tamper: corruptSecondFlight, want: radius.CodeAccessReject},
		{name: "final flight never acknowledged", abandon: true, want: radius.CodeAccessChallenge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, radiusd.Config{})
			if tt.decide != nil {
				f.auth.SetDecide(tt.decide)
			}
			cfg := f.device("device-53", x509.ExtKeyUsageClientAuth, tls.VersionTLS13)
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			peer := eaptlstest.NewPeer(cfg, 1000)
			defer peer.Close()
			n := newDirectNAS(t, f, "02-00-00-00-00-53")
			if tt.tamper != nil {
				n.tamper = tt.tamper()
			}
			eap, _, _ := peer.Step(nil)
			var x exchange
			if tt.abandon {
				// Run until the server has admitted the device and sent
				// its final flight (the commitment message), then go away.
				for f.auth.Calls() == 0 {
					x = n.send(n.request(eap))
					in, _ := rfc2869.EAPMessage_Lookup(x.resp)
					eap, _, _ = peer.Step(in)
				}
				for x.resp.Code == radius.CodeAccessChallenge && peerHasMore(x) {
					x = n.send(n.request(eap))
					in, _ := rfc2869.EAPMessage_Lookup(x.resp)
					eap, _, _ = peer.Step(in)
				}
			} else {
				x, _ = n.authenticate(peer, eap)
			}
			if x.resp.Code != tt.want {
				t.Fatalf("got %v, want %v", x.resp.Code, tt.want)
			}
			if got := f.server.SealedTickets(); got == 0 {
				t.Fatal("crypto/tls wrapped no session ticket; the test proves nothing")
			}
			if got := f.server.StoredTickets(); got != tt.stored {
				t.Errorf("%d sessions can resume, want %d", got, tt.stored)
			}
		})
	}
}

// peerHasMore reports whether the Access-Challenge x carries a fragment
// with more to follow (the final flight is not out yet).
func peerHasMore(x exchange) bool {
	in, _ := rfc2869.EAPMessage_Lookup(x.resp)
	var p eaptls.Packet
	if p.UnmarshalBinary(in) != nil || p.Type != eaptls.TypeTLS {
		return false
	}
	tp, err := eaptls.ParseTLSPayload(p.Data)
	return err == nil && tp.Flags.Has(eaptls.FlagMore)
}

// corruptSecondFlight returns a tamper function that flips the last byte of
// the peer's second TLS flight (Certificate, CertificateVerify, Finished in
// separate records): the server reads the certificate and its proof, wraps
// a session ticket, then fails on the Finished record.
func corruptSecondFlight() func([]byte) []byte {
	messages := 0
	return func(eap []byte) []byte {
		var p eaptls.Packet
		if p.UnmarshalBinary(eap) != nil || p.Type != eaptls.TypeTLS {
			return eap
		}
		tp, err := eaptls.ParseTLSPayload(p.Data)
		if err != nil || len(tp.Data) == 0 || tp.Flags.Has(eaptls.FlagMore) {
			return eap
		}
		messages++
		if messages != 2 {
			return eap
		}
		eap = bytes.Clone(eap)
		eap[len(eap)-1] ^= 0xff
		return eap
	}
}

// The EAP conversation timeout is an idle time per round: a device that
// takes its time between rounds (a guest looking at a trust prompt) is not
// cut off as long as each round comes within the timeout, while a round
// that comes later finds its conversation gone.
func TestConversationTimeoutIsPerRound(t *testing.T) {
	const timeout = 30 * time.Second
	var (
		mu  sync.Mutex
		now = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }

	f := newFixture(t, radiusd.Config{EAPTimeout: timeout})
	f.server.SetConversationClock(clock)

	t.Run("every round within the timeout", func(t *testing.T) {
		n := newDirectNAS(t, f, "02-00-00-00-00-54")
		var waited time.Duration
		n.between = func(int) { advance(timeout - time.Second); waited += timeout - time.Second }
		peer := eaptlstest.NewPeer(f.device("device-54", x509.ExtKeyUsageClientAuth, tls.VersionTLS13), 1000)
		first, _, _ := peer.Step(nil)
		x, err := n.authenticate(peer, first)
		if err != nil || x.resp.Code != radius.CodeAccessAccept {
			t.Fatalf("after %v in all: %v %v", waited, x.resp.Code, err)
		}
		if waited <= timeout {
			t.Fatalf("waited %v in all; the test proves nothing", waited)
		}
	})
	t.Run("one round too late", func(t *testing.T) {
		n := newDirectNAS(t, f, "02-00-00-00-00-55")
		n.between = func(round int) {
			if round == 2 {
				advance(timeout)
			}
		}
		peer := eaptlstest.NewPeer(f.device("device-55", x509.ExtKeyUsageClientAuth, tls.VersionTLS13), 1000)
		defer peer.Close()
		first, _, _ := peer.Step(nil)
		x, err := n.authenticate(peer, first)
		if x.resp.Code != radius.CodeAccessReject || !errors.Is(err, eaptlstest.ErrFailure) {
			t.Fatalf("got %v %v, want Access-Reject", x.resp.Code, err)
		}
		if got := f.metric("keycard_radius_auth_total", "result", "reject", "reason", "unknown EAP conversation"); got != 1 {
			t.Errorf("unknown-conversation rejects %v", got)
		}
	})
	t.Run("rounds stay bounded", func(t *testing.T) {
		// A device answering every round in time but never finishing is
		// still cut off by MaxRounds.
		f := newFixture(t, radiusd.Config{EAPTimeout: timeout, MaxRounds: 5})
		f.server.SetConversationClock(clock)
		n := newDirectNAS(t, f, "02-00-00-00-00-56")
		x := n.send(n.request([]byte{2, 0, 0, 6, 1, 'x'}))
		for i := 0; x.resp.Code == radius.CodeAccessChallenge; i++ {
			if i > 10 {
				t.Fatal("MaxRounds did not end the conversation")
			}
			advance(timeout - time.Second)
			x = n.send(n.request([]byte{2, 0, 0, 6, 1, 'x'})) // a stale Response: the Start again
		}
		if x.resp.Code != radius.CodeAccessReject {
			t.Fatalf("got %v", x.resp.Code)
		}
	})
}

// A resumed authentication's Access-Accept carries what a full one does:
// Session-Timeout, Class, Acct-Interim-Interval, VLAN and bandwidth.
func TestResumedAcceptMatchesFullAccept(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			f := newFixture(t, radiusd.Config{})
			d := vouchers.Decision{
				Allowed: true, Reason: vouchers.ReasonOK,
				Stay:      vouchers.Stay{ID: 42, Room: "101"},
				Device:    vouchers.Device{ID: 7, StayID: 42, Identity: "device-7"},
				Policy:    vouchers.Policy{Name: "premium", VLAN: 120, BandwidthUpKbps: 2000, BandwidthDownKbps: 10000},
				Remaining: 3 * time.Hour,
			}
			f.auth.SetDecide(func(*x509.Certificate, time.Time) (vouchers.Decision, error) { return d, nil })
			cfg := f.device("device-7", x509.ExtKeyUsageClientAuth, version)
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			n := newDirectNAS(t, f, "02-00-00-00-00-07")
			n.proxyStates = [][]byte{[]byte("proxy-7")}

			var accepts [2]exchange
			for i := range accepts {
				peer := eaptlstest.NewPeer(cfg, 1000)
				first, _, _ := peer.Step(nil)
				x, err := n.authenticate(peer, first)
				if err != nil || x.resp.Code != radius.CodeAccessAccept {
					t.Fatalf("authentication %d: %v %v", i+1, x.resp.Code, err)
				}
				if resumed := peer.ConnectionState().DidResume; resumed != (i == 1) {
					t.Fatalf("authentication %d resumed = %v", i+1, resumed)
				}
				accepts[i] = x
			}
			full, resumed := policyAttributes(accepts[0].resp), policyAttributes(accepts[1].resp)
			if !slices.Equal(full, resumed) {
				t.Errorf("resumed Access-Accept attributes differ from the full one's:\nfull    %q\nresumed %q", full, resumed)
			}
			for _, typ := range []radius.Type{rfc2865.SessionTimeout_Type, rfc2865.Class_Type, rfc2869.AcctInterimInterval_Type,
				64 /* Tunnel-Type */, 81 /* Tunnel-Private-Group-Id */, rfc2865.VendorSpecific_Type} {
				if _, ok := accepts[1].resp.Lookup(typ); !ok {
					t.Errorf("resumed Access-Accept lacks attribute %d", typ)
				}
			}
		})
	}
}

// policyAttributes lists the attributes of an Access-Accept, in order,
// without what differs per authentication by design: the
// Message-Authenticator, the EAP-Success (its Identifier) and the MPPE keys
// (Microsoft Vendor-Specific attributes).
func policyAttributes(p *radius.Packet) []string {
	var out []string
	for _, a := range p.Attributes {
		switch {
		case a.Type == rfc2869.MessageAuthenticator_Type, a.Type == rfc2869.EAPMessage_Type:
			continue
		case a.Type == rfc2865.VendorSpecific_Type && len(a.Attribute) >= 4 &&
			a.Attribute[0] == 0 && a.Attribute[1] == 0 && a.Attribute[2] == 0x01 && a.Attribute[3] == 0x37: // vendor 311
			continue
		}
		out = append(out, fmt.Sprintf("%d=%x", a.Type, []byte(a.Attribute)))
	}
	return out
}

// An answer never exceeds 4096 bytes: the Proxy-State attributes a request
// carries are copied into the answer, so the EAP fragment shrinks to leave
// them room, and the conversation still completes.
func TestProxyStatesShrinkFragments(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			f := newFixture(t, radiusd.Config{FragmentSize: 3500})
			n := newDirectNAS(t, f, "02-00-00-00-00-57")
			n.framedMTU = 0 // no Framed-MTU: only the RADIUS packet limits
			// 3528 bytes of Proxy-State: an answer has room for about 500
			// bytes of EAP, not 3500.
			for i := range 14 {
				n.proxyStates = append(n.proxyStates, bytes.Repeat([]byte{'a' + byte(i)}, 250))
			}
			// Small peer fragments keep the requests, Proxy-States
			// included, within 4096 bytes.
			peer := eaptlstest.NewPeer(f.device("device-57", x509.ExtKeyUsageClientAuth, version), 200)
			first, _, _ := peer.Step(nil)
			x, err := n.authenticate(peer, first)
			if err != nil || x.resp.Code != radius.CodeAccessAccept {
				t.Fatalf("%v %v", x.resp.Code, err)
			}
			fragmented, largest := false, 0
			for _, r := range n.rounds {
				largest = max(largest, len(r.wire))
				if r.resp.Code == radius.CodeAccessChallenge && peerHasMore(r) {
					fragmented = true
				}
			}
			if !fragmented {
				t.Error("the server's flights fit one fragment; the test proves nothing")
			}
			t.Logf("largest answer %d bytes over %d rounds", largest, len(n.rounds))
		})
	}
}

// A flood of conversations holding reassembly buffers cannot make memory
// grow past the shared budget: the fragment that would exceed it fails its
// conversation with an Access-Reject, and memory comes back when
// conversations end.
func TestReassemblyBudgetUnderFlood(t *testing.T) {
	const budget = 4 << 10
	f := newFixture(t, radiusd.Config{})
	f.server.SetReassemblyBudget(budget)
	fragment := func(id uint8) []byte {
		// The first fragment of a long ClientHello: 500 bytes of data, 8000
		// announced.
		p := eaptls.TLSPayload{Flags: eaptls.FlagLength | eaptls.FlagMore, Length: 8000, Data: make([]byte, 500)}
		b, _ := (&eaptls.Packet{Code: eaptls.CodeResponse, Identifier: id, Type: eaptls.TypeTLS, Data: p.Append(nil)}).MarshalBinary()
		return b
	}
	var refused int
	for i := range 10 {
		n := newDirectNAS(t, f, fmt.Sprintf("02-00-00-00-01-%02x", i))
		x := n.send(n.request([]byte{2, 0, 0, 6, 1, 'x'}))
		eap, _ := rfc2869.EAPMessage_Lookup(x.resp)
		x = n.send(n.request(fragment(eap[1])))
		switch x.resp.Code {
		case radius.CodeAccessChallenge:
		case radius.CodeAccessReject:
			refused++
			eap, _ := rfc2869.EAPMessage_Lookup(x.resp)
			if len(eap) != 4 || eaptls.Code(eap[0]) != eaptls.CodeFailure {
				t.Errorf("refused conversation got EAP %x, want EAP-Failure", eap)
			}
		default:
			t.Fatalf("fragment %d: %v", i, x.resp.Code)
		}
		if used := f.server.ReassemblyInUse(); used > budget {
			t.Fatalf("%d bytes of reassembly held, budget %d", used, budget)
		}
	}
	if refused == 0 {
		t.Fatal("no conversation was refused; the budget did not bind")
	}
	t.Logf("%d of 10 conversations refused", refused)
	if !bytes.Contains([]byte(f.logs.String()), []byte("budget exhausted")) {
		t.Errorf("the refusal is not logged:\n%s", f.logs.String())
	}
}
