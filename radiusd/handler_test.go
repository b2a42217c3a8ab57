package radiusd_test

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"keycard/radiusd"
	"keycard/radiusd/radiustest"
)

// TestPipeline runs single datagrams through the auth pipeline without a
// socket: which are answered, which are dropped and why.
func TestPipeline(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	pki := radiustest.NewPKI(t, now)
	legacy := []byte("legacy-switch-secret-0123")
	s, err := radiusd.New(radiusd.Config{RejectDelay: -1}, radiusd.Deps{
		NAS: radiustest.NASList{
			{Name: "ap-lobby", Network: netip.MustParsePrefix("10.0.0.0/24"), Secret: testSecret},
			{Name: "old-switch", Network: netip.MustParsePrefix("10.0.9.9/32"), Secret: legacy, AllowMissingMessageAuthenticator: true},
		},
		Authorizer:        &radiustest.Authorizer{},
		ServerCertificate: pki.Server,
		ClientCAs:         pki.Roots,
		Logger:            slog.New(slog.DiscardHandler),
		Registry:          prometheus.NewRegistry(),
		Now:               func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	lobby := netip.MustParseAddrPort("10.0.0.7:1645")
	oldSwitch := netip.MustParseAddrPort("10.0.9.9:1645")
	stranger := netip.MustParseAddrPort("192.0.2.1:1645")
	identity := []byte{2, 0, 0, 6, 1, 'x'}

	signed := func(secret []byte, code radius.Code, eap []byte) []byte {
		p := radius.New(code, secret)
		rfc2865.UserName_SetString(p, "guest")
		if eap != nil {
			rfc2869.EAPMessage_Set(p, eap)
		}
		b, err := radiustest.Sign(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	unsigned := func(secret []byte, eap []byte) []byte {
		p := radius.New(radius.CodeAccessRequest, secret)
		rfc2865.UserName_SetString(p, "guest")
		if eap != nil {
			rfc2869.EAPMessage_Set(p, eap)
		}
		b, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	padded := append(signed(testSecret, radius.CodeAccessRequest, identity), 0, 0, 0) // octets beyond Length are padding
	badAttr := signed(testSecret, radius.CodeAccessRequest, nil)
	badAttr = append(badAttr, 1, 9) // attribute longer than the packet
	badAttr[3] += 2
	cutEAP := signed(testSecret, radius.CodeAccessRequest, []byte{2, 0, 0, 60, 1, 'x'}) // EAP Length says 60

	tests := []struct {
		name   string
		from   netip.AddrPort
		pkt    []byte
		answer radius.Code // 0: dropped
		cause  string
	}{
		{"EAP start", lobby, signed(testSecret, radius.CodeAccessRequest, identity), radius.CodeAccessChallenge, ""},
		{"padding ignored", lobby, padded, radius.CodeAccessChallenge, ""},
		{"unknown source", stranger, signed(testSecret, radius.CodeAccessRequest, identity), 0, "unknown_nas"},
		{"wrong secret", lobby, signed(legacy, radius.CodeAccessRequest, identity), 0, "bad_message_authenticator"},
		{"no Message-Authenticator", lobby, unsigned(testSecret, identity), 0, "missing_message_authenticator"},
		{"opt-out NAS still needs it with EAP", oldSwitch, unsigned(legacy, identity), 0, "missing_message_authenticator"},
		{"opt-out NAS without EAP", oldSwitch, unsigned(legacy, nil), radius.CodeAccessReject, ""},
		{"Status-Server", lobby, signed(testSecret, radius.CodeStatusServer, nil), radius.CodeAccessAccept, ""},
		{"Accounting-Request", lobby, signed(testSecret, radius.CodeAccountingRequest, nil), 0, "bad_code"},
		{"Access-Accept from a NAS", lobby, signed(testSecret, radius.CodeAccessAccept, nil), 0, "bad_code"},
		{"attribute overruns", lobby, badAttr, 0, "malformed"},
		{"EAP length mismatch", lobby, cutEAP, 0, "eap_malformed"},
		{"Length under 20", lobby, []byte{1, 0, 0, 19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, "malformed"},
		{"19 bytes", lobby, make([]byte, 19), 0, "short"},
		{"4097 bytes", lobby, make([]byte, 4097), 0, "oversized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, cause := s.HandlePacket(tt.from, tt.pkt)
			if cause != tt.cause {
				t.Errorf("drop cause %q, want %q", cause, tt.cause)
			}
			switch {
			case tt.answer == 0 && reply != nil:
				t.Errorf("answered %v, want silence", radius.Code(reply[0]))
			case tt.answer != 0 && reply == nil:
				t.Errorf("no answer, want %v", tt.answer)
			case tt.answer != 0 && radius.Code(reply[0]) != tt.answer:
				t.Errorf("answered %v, want %v", radius.Code(reply[0]), tt.answer)
			}
		})
	}
}
