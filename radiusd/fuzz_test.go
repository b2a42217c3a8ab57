package radiusd_test

import (
	"crypto/x509"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"keycard/eaptls/eaptlstest"
	"keycard/radiusd"
	"keycard/radiusd/radiustest"
)

// FuzzAccessRequest feeds arbitrary datagrams through the whole auth
// pipeline (NAS lookup, parsing, Message-Authenticator, reply cache, EAP,
// eaptls). With sign set, the input's attributes are re-signed with the
// right secret so the fuzzer reaches past Message-Authenticator. Nothing
// may panic, every answer must be a well-formed, authentic response, and
// the EAP conversation table must stay within its bound.
func FuzzAccessRequest(f *testing.F) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	pki := radiustest.NewPKI(f, now)
	const maxSessions = 16
	reg := prometheus.NewRegistry()
	s, err := radiusd.New(radiusd.Config{AuthListen: []string{"127.0.0.1:0"}, EAPSessions: maxSessions, RejectDelay: -1},
		radiusd.Deps{
			NAS: radiustest.NASList{{Name: "ap-lobby", Network: netip.MustParsePrefix("127.0.0.1/32"),
				Secret: testSecret}},
			Authorizer:        &radiustest.Authorizer{},
			ServerCertificate: pki.Server,
			ClientCAs:         pki.Roots,
			Logger:            slog.New(slog.DiscardHandler),
			Registry:          reg,
			Now:               func() time.Time { return now },
		})
	if err != nil {
		f.Fatal(err)
	}
	nasAddr := netip.MustParseAddrPort("127.0.0.1:50000")

	// Seeds: real packets of a conversation, captured by running one.
	peer := eaptlstest.NewPeer(pki.ClientTLS(pki.Issue(f, "device-1", now, now.Add(time.Hour), x509.ExtKeyUsageClientAuth), func() time.Time { return now }), 1000)
	eap, _, _ := peer.Step(nil)
	var state []byte
	for range 20 {
		p := radius.New(radius.CodeAccessRequest, testSecret)
		rfc2865.CallingStationID_SetString(p, "02-00-00-00-00-01")
		rfc2865.ProxyState_Add(p, []byte("seed"))
		if state != nil {
			rfc2865.State_Set(p, state)
		}
		rfc2869.EAPMessage_Set(p, eap)
		raw, err := radiustest.Sign(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, false)
		f.Add(raw, true)
		reply, _ := s.HandlePacket(nasAddr, raw)
		if reply == nil {
			break
		}
		resp, err := radius.Parse(reply, testSecret)
		if err != nil {
			f.Fatal(err)
		}
		state = rfc2865.State_Get(resp)
		in, _ := rfc2869.EAPMessage_Lookup(resp)
		var done bool
		if eap, done, _ = peer.Step(in); done {
			break
		}
	}
	status, _ := radiustest.Sign(radius.New(radius.CodeStatusServer, testSecret))
	f.Add(status, false)
	f.Add([]byte{1, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, true)
	f.Add([]byte{}, false)

	f.Fuzz(func(t *testing.T, b []byte, sign bool) {
		if sign && len(b) >= 20 {
			if attrs, err := radius.ParseAttributes(b[20:min(len(b), 4096)]); err == nil {
				p := &radius.Packet{Code: radius.Code(b[0]), Identifier: b[1], Secret: testSecret, Attributes: attrs}
				copy(p.Authenticator[:], b[4:20])
				if raw, err := radiustest.Sign(p); err == nil {
					b = raw
				}
			}
		}
		reply, _ := s.HandlePacket(nasAddr, b)
		if reply != nil {
			if len(reply) > radius.MaxPacketLength {
				t.Fatalf("reply of %d bytes", len(reply))
			}
			var reqAuth [16]byte
			copy(reqAuth[:], b[4:20])
			if err := radiustest.CheckResponse(reply, reqAuth, testSecret); err != nil {
				t.Fatal(err)
			}
			switch radius.Code(reply[0]) {
			case radius.CodeAccessAccept, radius.CodeAccessReject, radius.CodeAccessChallenge:
			default:
				t.Fatalf("reply code %v", radius.Code(reply[0]))
			}
		}
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "keycard_radius_eap_sessions" {
				if v := mf.GetMetric()[0].GetGauge().GetValue(); v > maxSessions {
					t.Fatalf("%v EAP conversations, bound %d", v, maxSessions)
				}
			}
		}
	})
}
