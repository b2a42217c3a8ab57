package radiusd_test

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"net/netip"
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
	"keycard/radiusd/radiustest"
	"keycard/sessions"
	"keycard/vouchers"
)

// fakeAccounting keeps what the accounting listener stored.
type fakeAccounting struct {
	mu      sync.Mutex
	records []sessions.Record
	closed  []string // NAS names closed by Accounting-On/Off
	fail    error
}

func (a *fakeAccounting) Record(_ context.Context, rec sessions.Record) (sessions.Session, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return sessions.Session{}, a.fail
	}
	a.records = append(a.records, rec)
	return sessions.Session{ID: int64(len(a.records)), StayID: rec.StayID, DeviceID: rec.DeviceID,
		InputOctets: rec.InputOctets, OutputOctets: rec.OutputOctets}, nil
}

func (a *fakeAccounting) CloseNAS(_ context.Context, nas string, _ time.Time, _ string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return 0, a.fail
	}
	a.closed = append(a.closed, nas)
	return 1, nil
}

func (a *fakeAccounting) stored() []sessions.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]sessions.Record(nil), a.records...)
}

func (a *fakeAccounting) setFail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = err
}

type fakeDevices map[int64]vouchers.Device

func (d fakeDevices) Device(_ context.Context, id int64) (vouchers.Device, error) {
	if dev, ok := d[id]; ok {
		return dev, nil
	}
	return vouchers.Device{}, vouchers.ErrUnknownDevice
}

type acctFixture struct {
	t      *testing.T
	server *radiusd.Server
	store  *fakeAccounting
	reg    *prometheus.Registry
	now    time.Time
}

// metric returns a counter's value (see fixture.metric).
func (f *acctFixture) metric(name string, labels ...string) float64 {
	return (&fixture{t: f.t, reg: f.reg}).metric(name, labels...)
}

func newAcctFixture(t *testing.T) *acctFixture {
	t.Helper()
	f := &acctFixture{t: t, store: &fakeAccounting{}, reg: prometheus.NewRegistry(),
		now: time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)}
	pki := radiustest.NewPKI(t, f.now)
	var err error
	f.server, err = radiusd.New(radiusd.Config{AuthListen: []string{"127.0.0.1:0"}, AcctListen: []string{"127.0.0.1:0"}}, radiusd.Deps{
		NAS: radiustest.NASList{
			{Name: "ap-lobby", Network: netip.MustParsePrefix("127.0.0.1/32"), Secret: testSecret},
		},
		Authorizer:        &radiustest.Authorizer{},
		ServerCertificate: pki.Server,
		ClientCAs:         pki.Roots,
		Registry:          f.reg,
		Now:               func() time.Time { return f.now },
		Accounting:        f.store,
		Devices:           fakeDevices{7: {ID: 7, StayID: 3, Identity: "device-7"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var nasAddr = netip.MustParseAddrPort("127.0.0.1:40000")

// acctPacket is an Accounting-Request of status for session id, encoded
// as a NAS does (RFC 2866 Request Authenticator).
func acctPacket(t *testing.T, status rfc2866.AcctStatusType, id string, edit func(p *radius.Packet)) []byte {
	t.Helper()
	p := radius.New(radius.CodeAccountingRequest, testSecret)
	rfc2866.AcctStatusType_Add(p, status)
	if id != "" {
		rfc2866.AcctSessionID_AddString(p, id)
	}
	rfc2865.NASIdentifier_AddString(p, "lobby-ap")
	rfc2865.CallingStationID_AddString(p, "02-00-00-00-00-01")
	if edit != nil {
		edit(p)
	}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkAcctResponse checks that reply answers req as RFC 2866 says.
func checkAcctResponse(t *testing.T, req, reply []byte) {
	t.Helper()
	if reply == nil {
		t.Fatal("no Accounting-Response")
	}
	if radius.Code(reply[0]) != radius.CodeAccountingResponse || reply[1] != req[1] {
		t.Fatalf("answer code %v id %d; want Accounting-Response id %d", radius.Code(reply[0]), reply[1], req[1])
	}
	// Response Authenticator: MD5(Code+ID+Length+Request Authenticator+
	// Attributes+Secret).
	h := md5.New()
	h.Write(reply[:4])
	h.Write(req[4:20])
	h.Write(reply[20:])
	h.Write(testSecret)
	if !hmac.Equal(h.Sum(nil), reply[4:20]) {
		t.Fatal("Accounting-Response: wrong Response Authenticator")
	}
	// Message-Authenticator first, computed (as FreeRADIUS checks it) with
	// the Authenticator field zeroed.
	if len(reply) < 38 || reply[20] != 80 || reply[21] != 18 {
		t.Fatal("Accounting-Response: Message-Authenticator is not the first attribute")
	}
	b := append([]byte(nil), reply...)
	clear(b[4:20])
	clear(b[22:38])
	mac := hmac.New(md5.New, testSecret)
	mac.Write(b)
	if !hmac.Equal(mac.Sum(nil), reply[22:38]) {
		t.Fatal("Accounting-Response: Message-Authenticator does not verify")
	}
}

func TestAccountingStartTiedByClass(t *testing.T) {
	f := newAcctFixture(t)
	req := acctPacket(t, rfc2866.AcctStatusType_Value_Start, "5F3A00000001", func(p *radius.Packet) {
		rfc2865.Class_AddString(p, "some-other-server-class")
		rfc2865.Class_AddString(p, "keycard:stay=12:device=34")
		rfc2865.UserName_AddString(p, "device-34")
		rfc2865.FramedIPAddress_Add(p, netip.MustParseAddr("10.20.0.55").AsSlice())
		rfc2865.NASIPAddress_Add(p, netip.MustParseAddr("192.0.2.7").AsSlice())
		rfc2866.AcctDelayTime_Add(p, 3)
	})
	reply, cause := f.server.HandleAccounting(nasAddr, req)
	if cause != "" {
		t.Fatalf("dropped: %s", cause)
	}
	checkAcctResponse(t, req, reply)
	recs := f.store.stored()
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	r := recs[0]
	want := sessions.Record{Kind: sessions.Start, NAS: "ap-lobby", AcctSessionID: "5F3A00000001", StayID: 12, DeviceID: 34,
		UserName: "device-34", CallingStationID: "02-00-00-00-00-01", NASIdentifier: "lobby-ap",
		FramedIP: netip.MustParseAddr("10.20.0.55"), NASIPAddress: netip.MustParseAddr("192.0.2.7"),
		NASAddress: netip.MustParseAddr("127.0.0.1"), At: f.now.Add(-3 * time.Second)}
	if r != want {
		t.Errorf("record\n got %+v\nwant %+v", r, want)
	}
}

func TestAccountingTiedByUserNameOrKeptUnknown(t *testing.T) {
	f := newAcctFixture(t)
	for _, tc := range []struct {
		user         string
		stay, device int64
	}{
		{"device-7", 3, 7},  // a device identity Keycard issued
		{"device-99", 0, 0}, // no such device: kept, stay unknown
		{"guest@example", 0, 0},
		{"device-07", 0, 0}, // not how Keycard writes it
	} {
		req := acctPacket(t, rfc2866.AcctStatusType_Value_InterimUpdate, "S-"+tc.user, func(p *radius.Packet) {
			rfc2865.UserName_AddString(p, tc.user)
		})
		if _, cause := f.server.HandleAccounting(nasAddr, req); cause != "" {
			t.Fatalf("%s: dropped: %s", tc.user, cause)
		}
		recs := f.store.stored()
		got := recs[len(recs)-1]
		if got.StayID != tc.stay || got.DeviceID != tc.device {
			t.Errorf("User-Name %q: stay %d device %d; want %d %d", tc.user, got.StayID, got.DeviceID, tc.stay, tc.device)
		}
	}
}

func TestAccountingGigawordsAndStop(t *testing.T) {
	f := newAcctFixture(t)
	const fiveGB = 5_000_000_000
	req := acctPacket(t, rfc2866.AcctStatusType_Value_Stop, "big", func(p *radius.Packet) {
		rfc2866.AcctInputOctets_Add(p, rfc2866.AcctInputOctets(fiveGB&0xffffffff))
		rfc2869.AcctInputGigawords_Add(p, rfc2869.AcctInputGigawords(fiveGB>>32))
		rfc2866.AcctOutputOctets_Add(p, 1234)
		rfc2866.AcctInputPackets_Add(p, 99)
		rfc2866.AcctSessionTime_Add(p, 3600)
		rfc2866.AcctTerminateCause_Add(p, rfc2866.AcctTerminateCause_Value_AdminReset)
		rfc2869.EventTimestamp_Add(p, f.now.Add(-time.Minute))
	})
	if _, cause := f.server.HandleAccounting(nasAddr, req); cause != "" {
		t.Fatalf("dropped: %s", cause)
	}
	r := f.store.stored()[0]
	if r.Kind != sessions.Stop || r.InputOctets != fiveGB || r.OutputOctets != 1234 || r.InputPackets != 99 ||
		r.SessionTime != time.Hour || r.TerminateCause != "Admin-Reset" || !r.At.Equal(f.now.Add(-time.Minute)) {
		t.Errorf("record %+v", r)
	}
}

func TestAccountingOnOffClosesTheNAS(t *testing.T) {
	f := newAcctFixture(t)
	for _, st := range []rfc2866.AcctStatusType{rfc2866.AcctStatusType_Value_AccountingOn, rfc2866.AcctStatusType_Value_AccountingOff} {
		req := acctPacket(t, st, "", nil)
		reply, cause := f.server.HandleAccounting(nasAddr, req)
		if cause != "" {
			t.Fatalf("%v: dropped: %s", st, cause)
		}
		checkAcctResponse(t, req, reply)
	}
	if got := strings.Join(f.store.closed, ","); got != "ap-lobby,ap-lobby" {
		t.Errorf("closed NAS %q; want ap-lobby twice", got)
	}
}

func TestAccountingRetransmissionAnsweredFromCache(t *testing.T) {
	f := newAcctFixture(t)
	req := acctPacket(t, rfc2866.AcctStatusType_Value_Stop, "dup", nil)
	first, _ := f.server.HandleAccounting(nasAddr, req)
	again, cause := f.server.HandleAccounting(nasAddr, req)
	if cause != "" || string(first) != string(again) {
		t.Fatalf("retransmission: cause %q, same answer %v", cause, string(first) == string(again))
	}
	if n := len(f.store.stored()); n != 1 {
		t.Errorf("stored %d records for one Stop sent twice, want 1", n)
	}
	if v := f.metric("keycard_radius_accounting_reply_cache_hits_total"); v != 1 {
		t.Errorf("accounting cache hits = %v, want 1", v)
	}
}

func TestAccountingNotAcknowledgedUntilStored(t *testing.T) {
	f := newAcctFixture(t)
	f.store.setFail(errors.New("disk full"))
	req := acctPacket(t, rfc2866.AcctStatusType_Value_Start, "s1", nil)
	if reply, cause := f.server.HandleAccounting(nasAddr, req); reply != nil || cause != "acct_store_failed" {
		t.Fatalf("store failing: reply %v cause %q; want no answer, acct_store_failed", reply != nil, cause)
	}
	// The NAS retransmits; now the store works, so it is recorded and answered.
	f.store.setFail(nil)
	reply, cause := f.server.HandleAccounting(nasAddr, req)
	if cause != "" {
		t.Fatalf("retransmission after the store recovered: dropped %s", cause)
	}
	checkAcctResponse(t, req, reply)
	if n := len(f.store.stored()); n != 1 {
		t.Errorf("stored %d, want 1", n)
	}
}

func TestAccountingDropsAndCounts(t *testing.T) {
	f := newAcctFixture(t)
	good := acctPacket(t, rfc2866.AcctStatusType_Value_Start, "x", nil)
	badAuth := append([]byte(nil), good...)
	badAuth[10] ^= 1
	wrongSecret := func() []byte {
		p := radius.New(radius.CodeAccountingRequest, []byte("not-the-secret-at-all"))
		rfc2866.AcctStatusType_Add(p, rfc2866.AcctStatusType_Value_Start)
		rfc2866.AcctSessionID_AddString(p, "x")
		b, _ := p.Encode()
		return b
	}()
	noStatus := acctPacket(t, rfc2866.AcctStatusType_Value_Start, "x", func(p *radius.Packet) { rfc2866.AcctStatusType_Del(p) })
	noSession := acctPacket(t, rfc2866.AcctStatusType_Value_Start, "", nil)
	accessReq := func() []byte {
		p := radius.New(radius.CodeAccessRequest, testSecret)
		b, _ := radiustest.Sign(p)
		return b
	}()
	badLength := append([]byte(nil), good...)
	badLength[3] = 200 // Length beyond the datagram
	for _, tc := range []struct {
		name   string
		from   netip.AddrPort
		b      []byte
		cause  string
		metric string
	}{
		{"bad authenticator", nasAddr, badAuth, "bad_request_authenticator", "bad_request_authenticator"},
		{"wrong secret", nasAddr, wrongSecret, "bad_request_authenticator", "bad_request_authenticator"},
		{"unknown source", netip.MustParseAddrPort("192.0.2.1:1813"), good, "unknown_nas", "unknown_nas"},
		{"no status type", nasAddr, noStatus, "acct_malformed", "acct_malformed"},
		{"no session id", nasAddr, noSession, "acct_malformed", "acct_malformed"},
		{"Access-Request on the accounting port", nasAddr, accessReq, "bad_code", "bad_code"},
		{"truncated", nasAddr, good[:15], "short", "short"},
		{"length beyond datagram", nasAddr, badLength, "short", "short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.metric("keycard_radius_dropped_total", "cause", tc.metric)
			reply, cause := f.server.HandleAccounting(tc.from, tc.b)
			if reply != nil || cause != tc.cause {
				t.Errorf("reply %v cause %q; want silence, %q", reply != nil, cause, tc.cause)
			}
			if after := f.metric("keycard_radius_dropped_total", "cause", tc.metric); after != before+1 {
				t.Errorf("dropped{cause=%q} went %v -> %v", tc.metric, before, after)
			}
		})
	}
	if n := len(f.store.stored()); n != 0 {
		t.Errorf("malformed packets stored %d records", n)
	}
}

func TestAccountingMessageAuthenticator(t *testing.T) {
	f := newAcctFixture(t)
	// As hostapd and radclient send it: computed with the Authenticator
	// field zeroed, then the Request Authenticator over the whole packet.
	withMA := func(corrupt bool) []byte {
		p := radius.New(radius.CodeAccountingRequest, testSecret)
		p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
		rfc2866.AcctStatusType_Add(p, rfc2866.AcctStatusType_Value_Start)
		rfc2866.AcctSessionID_AddString(p, "ma-"+map[bool]string{true: "bad", false: "good"}[corrupt])
		b, _ := p.MarshalBinary()
		for i := range 16 {
			b[4+i] = 0
		}
		mac := hmac.New(md5.New, testSecret)
		mac.Write(b)
		copy(b[22:38], mac.Sum(nil))
		if corrupt {
			b[25] ^= 1
		}
		h := md5.New()
		h.Write(b)
		h.Write(testSecret)
		copy(b[4:20], h.Sum(nil))
		return b
	}
	if _, cause := f.server.HandleAccounting(nasAddr, withMA(false)); cause != "" {
		t.Errorf("valid Message-Authenticator: dropped %s", cause)
	}
	if _, cause := f.server.HandleAccounting(nasAddr, withMA(true)); cause != "bad_message_authenticator" {
		t.Errorf("bad Message-Authenticator: cause %q, want bad_message_authenticator", cause)
	}
}

func TestAccountingNeedsAStore(t *testing.T) {
	pki := radiustest.NewPKI(t, time.Now())
	_, err := radiusd.New(radiusd.Config{AcctListen: []string{"127.0.0.1:0"}}, radiusd.Deps{
		NAS: radiustest.NASList{}, Authorizer: &radiustest.Authorizer{}, ServerCertificate: pki.Server, ClientCAs: pki.Roots,
	})
	if err == nil || !strings.Contains(err.Error(), "Accounting") {
		t.Errorf("New without an Accounting store: %v", err)
	}
}
