package radiusd

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3162"

	"keycard/sessions"
)

// referenceRecord decodes an Accounting-Request as the accounting port did
// before acctRequest, on the packet radius.Parse makes, with layeh's
// dictionary helpers: what acctRequest must agree with. ok is false when
// the packet has no Acct-Status-Type.
func referenceRecord(p *radius.Packet, now time.Time, nas string, remote netip.AddrPort) (rec sessions.Record, ok bool, err error) {
	status, err := rfc2866.AcctStatusType_Lookup(p)
	if err != nil {
		return sessions.Record{}, false, nil
	}
	delay := time.Duration(rfc2866.AcctDelayTime_Get(p)) * time.Second
	if delay > maxEventSkew {
		delay = 0
	}
	at := now.Add(-delay)
	if ts, err := rfc2869.EventTimestamp_Lookup(p); err == nil {
		if d := now.Sub(ts); d < maxEventSkew && d > -maxEventSkew {
			at = ts
		}
	}
	id := rfc2866.AcctSessionID_GetString(p)
	if id == "" {
		return sessions.Record{}, true, fmt.Errorf("%s without Acct-Session-Id", status)
	}
	rec = sessions.Record{
		NAS: nas, AcctSessionID: id, At: at,
		UserName:         rfc2865.UserName_GetString(p),
		CallingStationID: rfc2865.CallingStationID_GetString(p),
		CalledStationID:  rfc2865.CalledStationID_GetString(p),
		NASAddress:       remote.Addr().Unmap().WithZone(""),
		NASIdentifier:    rfc2865.NASIdentifier_GetString(p),
		SessionTime:      time.Duration(rfc2866.AcctSessionTime_Get(p)) * time.Second,
		InputOctets:      uint64(rfc2866.AcctInputOctets_Get(p)) | uint64(rfc2869.AcctInputGigawords_Get(p))<<32,
		OutputOctets:     uint64(rfc2866.AcctOutputOctets_Get(p)) | uint64(rfc2869.AcctOutputGigawords_Get(p))<<32,
		InputPackets:     uint64(rfc2866.AcctInputPackets_Get(p)),
		OutputPackets:    uint64(rfc2866.AcctOutputPackets_Get(p)),
	}
	switch status {
	case rfc2866.AcctStatusType_Value_Start:
		rec.Kind = sessions.Start
	case rfc2866.AcctStatusType_Value_Stop:
		rec.Kind = sessions.Stop
		if c, err := rfc2866.AcctTerminateCause_Lookup(p); err == nil {
			rec.TerminateCause = terminateCause(c)
		}
	default:
		rec.Kind = sessions.Interim
	}
	if ip, err := rfc2865.FramedIPAddress_Lookup(p); err == nil {
		rec.FramedIP, _ = netip.AddrFromSlice(ip.To4())
	}
	if ip, err := rfc2865.NASIPAddress_Lookup(p); err == nil {
		rec.NASIPAddress, _ = netip.AddrFromSlice(ip.To4())
	}
	if ip, err := rfc3162.NASIPv6Address_Lookup(p); err == nil {
		rec.NASIPv6Address, _ = netip.AddrFromSlice(ip.To16())
	}
	if port, err := rfc2865.NASPort_Lookup(p); err == nil {
		rec.NASPort = strconv.FormatUint(uint64(port), 10)
	} else if id := rfc2869.NASPortID_GetString(p); id != "" {
		rec.NASPort = id
	}
	for _, a := range p.Attributes {
		if a.Type != rfc2865.Class_Type {
			continue
		}
		// The Class as classString writes it, and nothing else.
		var st, dev int64
		c := string(a.Attribute)
		if n, err := fmt.Sscanf(c, "keycard:stay=%d:device=%d", &st, &dev); err == nil && n == 2 && st > 0 && dev > 0 && c == classString(st, dev) {
			rec.StayID, rec.DeviceID = st, dev
			break
		}
	}
	return rec, true, nil
}

// FuzzAccountingRequest checks acctRequest, which reads an
// Accounting-Request's attributes in place, against radius.Parse and
// layeh's helpers: the same packets dropped for the same cause, and the
// same record from the others.
func FuzzAccountingRequest(f *testing.F) {
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	s := &Server{deps: Deps{Now: func() time.Time { return now }}}
	remote := netip.MustParseAddrPort("[::ffff:192.0.2.7]:1813")
	seed := func(edit func(p *radius.Packet)) {
		p := radius.New(radius.CodeAccountingRequest, []byte("secret"))
		edit(p)
		b, err := p.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(func(p *radius.Packet) {
		rfc2866.AcctStatusType_Add(p, rfc2866.AcctStatusType_Value_Stop)
		rfc2866.AcctSessionID_AddString(p, "5F3A0001")
		rfc2865.UserName_AddString(p, "device-34")
		rfc2865.Class_AddString(p, "other-server")
		rfc2865.Class_AddString(p, "keycard:stay=12:device=34")
		rfc2865.FramedIPAddress_Add(p, netip.MustParseAddr("10.20.0.55").AsSlice())
		rfc3162.NASIPv6Address_Add(p, netip.MustParseAddr("2001:db8::7").AsSlice())
		rfc2866.AcctInputOctets_Add(p, 1234)
		rfc2869.AcctInputGigawords_Add(p, 1)
		rfc2866.AcctTerminateCause_Add(p, rfc2866.AcctTerminateCause_Value_LostCarrier)
		rfc2869.EventTimestamp_Add(p, now.Add(-time.Minute))
		rfc2865.NASPort_Add(p, 7)
		rfc2865.ProxyState_Add(p, []byte("proxy"))
	})
	seed(func(p *radius.Packet) {
		rfc2866.AcctStatusType_Add(p, rfc2866.AcctStatusType_Value_InterimUpdate)
		rfc2866.AcctSessionID_AddString(p, "x")
		rfc2866.AcctDelayTime_Add(p, 30)
		rfc2869.NASPortID_AddString(p, "wlan0")
		rfc2865.Class_AddString(p, "keycard:stay=012:device=34")
		p.Add(rfc2866.AcctSessionTime_Type, radius.Attribute{1, 2, 3}) // not an integer
	})
	f.Add([]byte{byte(radius.CodeAccountingRequest), 1, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40, 1})
	f.Add([]byte{byte(radius.CodeAccessRequest), 1, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		b = bytes.Clone(b)
		if len(b) >= 4 && len(b) <= radius.MaxPacketLength && b[2] == 0xff {
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b))) // mostly, let the Length be right
		}
		nas := NAS{Name: "ap-lobby", Secret: []byte("secret")}
		want := &request{ctx: context.Background(), raw: b, nas: nas, remote: remote}
		wantErr := want.parse(radius.CodeAccountingRequest)
		got := &request{ctx: context.Background(), raw: b, nas: nas, remote: remote}
		a := &acctRequest{s: s}
		gotErr := a.parse(got)
		if causeOf(gotErr) != causeOf(wantErr) || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("parse: %v, radius.Parse: %v", gotErr, wantErr)
		}
		if gotErr != nil {
			return
		}
		if got.packet.Identifier != want.packet.Identifier || got.packet.Authenticator != want.packet.Authenticator {
			t.Fatal("header differs")
		}
		var proxyStates [][]byte
		for _, avp := range want.packet.Attributes {
			if avp.Type == rfc2865.ProxyState_Type {
				proxyStates = append(proxyStates, avp.Attribute)
			}
		}
		if len(proxyStates) != len(got.packet.Attributes) {
			t.Fatalf("%d Proxy-States, want %d", len(got.packet.Attributes), len(proxyStates))
		}
		for i, avp := range got.packet.Attributes {
			if avp.Type != rfc2865.ProxyState_Type || !bytes.Equal(avp.Attribute, proxyStates[i]) {
				t.Fatalf("Proxy-State %d differs", i)
			}
		}
		wantRec, hasStatus, wantRecErr := referenceRecord(want.packet, now, nas.Name, remote)
		st, ok := a.integer(rfc2866.AcctStatusType_Type)
		if ok != hasStatus {
			t.Fatalf("Acct-Status-Type found %v, want %v", ok, hasStatus)
		}
		if !ok {
			return
		}
		gotRec, gotRecErr := s.accountingRecord(got, a, rfc2866.AcctStatusType(st), s.eventTime(a))
		if (gotRecErr == nil) != (wantRecErr == nil) {
			t.Fatalf("record error %v, want %v", gotRecErr, wantRecErr)
		}
		if gotRecErr == nil && gotRec != wantRec {
			t.Fatalf("record\n got %+v\nwant %+v", gotRec, wantRec)
		}
	})
}

// TestAccountingResponseEncoding: accountingResponse writes the bytes
// encodeResponse writes for an Accounting-Response, Proxy-States and all.
func TestAccountingResponseEncoding(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	secret := []byte("lobby-shared-secret")
	key := newSecretKey(secret)
	for i := range 500 {
		p := radius.New(radius.CodeAccountingRequest, secret)
		rfc2866.AcctStatusType_Add(p, rfc2866.AcctStatusType_Value_InterimUpdate)
		rfc2866.AcctSessionID_AddString(p, strconv.Itoa(i))
		for range rnd.IntN(4) {
			ps := make([]byte, rnd.IntN(254))
			for j := range ps {
				ps[j] = byte(rnd.IntN(256))
			}
			rfc2865.ProxyState_Add(p, ps)
			rfc2865.NASIdentifier_AddString(p, "ap")
		}
		raw, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		r := &request{raw: raw, nas: NAS{Secret: secret}, key: key}
		a := &acctRequest{}
		if err := a.parse(r); err != nil {
			t.Fatal(err)
		}
		if err := a.checkAuthenticators(r); err != nil {
			t.Fatal(err)
		}
		full, err := radius.Parse(raw, secret)
		if err != nil {
			t.Fatal(err)
		}
		want, err := encodeResponse(full.Response(radius.CodeAccountingResponse), full, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := accountingResponse(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("request %d:\n got %x\nwant %x", i, got, want)
		}
	}
}
