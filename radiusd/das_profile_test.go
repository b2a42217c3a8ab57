package radiusd

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2868"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3162"
	"layeh.com/radius/vendors/mikrotik"
	"layeh.com/radius/vendors/wispr"

	"keycard/vouchers"
)

// fullRef is a session for which the NAS sent every identifier.
var fullRef = SessionRef{
	UserName:         "device-7",
	AcctSessionID:    "5F3A0C1D-00000012",
	CallingStationID: "02-00-00-00-00-01",
	NASIdentifier:    "ap-lobby",
	NASIPAddress:     netip.MustParseAddr("10.20.0.5"),
	NASIPv6Address:   netip.MustParseAddr("2001:db8::5"),
}

func attrTypes(p *radius.Packet) []radius.Type {
	var ts []radius.Type
	for _, a := range p.Attributes {
		ts = append(ts, a.Type)
	}
	return ts
}

func TestProfileDisconnectAttributes(t *testing.T) {
	now := time.Date(2031, 5, 4, 11, 0, 0, 0, time.UTC)
	standard := []radius.Type{msgAuthType, rfc2865.UserName_Type, rfc2865.NASIPAddress_Type, rfc3162.NASIPv6Address_Type,
		rfc2865.NASIdentifier_Type, rfc2865.CallingStationID_Type, rfc2866.AcctSessionID_Type, rfc2869.EventTimestamp_Type}
	noSessionID := slices.DeleteFunc(slices.Clone(standard), func(t radius.Type) bool { return t == rfc2866.AcctSessionID_Type })
	tests := []struct {
		profile string
		want    []radius.Type
	}{
		{"rfc5176", standard},
		{"aruba", noSessionID},
		{"cisco-wlc", standard},
		{"meraki", standard},
		{"ruckus", standard}, // Service-Type only on CoA: RFC 5176 section 3.2 forbids it here
		{"mikrotik", standard},
	}
	if len(tests) != len(Profiles()) {
		t.Fatalf("test covers %d profiles, there are %v", len(tests), Profiles())
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			p, err := ProfileByName(tt.profile)
			if err != nil {
				t.Fatal(err)
			}
			pkt, err := p.disconnectRequest(fullRef, now)
			if err != nil {
				t.Fatal(err)
			}
			if pkt.Code != radius.CodeDisconnectRequest {
				t.Errorf("code %v", pkt.Code)
			}
			if got := attrTypes(pkt); !slices.Equal(got, tt.want) {
				t.Errorf("attributes %v, want %v", got, tt.want)
			}
			if got := rfc2869.EventTimestamp_Get(pkt); !got.Equal(now) {
				t.Errorf("Event-Timestamp %v, want %v", got, now)
			}
			// Identifiers go byte for byte as the NAS sent them.
			if rfc2865.CallingStationID_GetString(pkt) != fullRef.CallingStationID ||
				rfc2865.NASIdentifier_GetString(pkt) != fullRef.NASIdentifier ||
				!rfc2865.NASIPAddress_Get(pkt).Equal(fullRef.NASIPAddress.AsSlice()) ||
				!rfc3162.NASIPv6Address_Get(pkt).Equal(fullRef.NASIPv6Address.AsSlice()) {
				t.Errorf("identifiers changed: %v", pkt.Attributes)
			}
		})
	}
}

func TestProfileCoA(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	tests := []struct {
		profile     string
		serviceType rfc2865.ServiceType // 0: none
		nas         NAS
		wantPort    int
	}{
		{"rfc5176", 0, NAS{DASPort: 3799}, 3799},
		{"rfc5176", 0, NAS{DASPort: 3800}, 3800},
		{"rfc5176", 0, NAS{}, DefaultDASPort},
		{"aruba", 0, NAS{DASPort: 3799}, 3799},
		{"cisco-wlc", 0, NAS{DASPort: 3799}, 1700},
		{"meraki", 0, NAS{DASPort: 3799}, 1700},
		{"meraki", 0, NAS{DASPort: 3799, CoAPort: 1799}, 1799}, // the NAS's own CoA port wins
		{"ruckus", rfc2865.ServiceType_Value_FramedUser, NAS{DASPort: 3799}, 3799},
		{"mikrotik", 0, NAS{DASPort: 3799}, 3799},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			p, err := ProfileByName(tt.profile)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.coaPort(tt.nas); got != tt.wantPort {
				t.Errorf("CoA port %d, want %d", got, tt.wantPort)
			}
			pkt, err := p.coaRequest(fullRef, now, 90*time.Minute+time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if pkt.Code != radius.CodeCoARequest || pkt.Attributes[0].Type != msgAuthType {
				t.Errorf("code %v, first attribute %d", pkt.Code, pkt.Attributes[0].Type)
			}
			if got := rfc2865.SessionTimeout_Get(pkt); got != 5401 {
				t.Errorf("Session-Timeout %d, want 5401 (rounded up)", got)
			}
			st, err := rfc2865.ServiceType_Lookup(pkt)
			if tt.serviceType == 0 && err == nil {
				t.Errorf("Service-Type %v sent", st)
			}
			if tt.serviceType != 0 && st != tt.serviceType {
				t.Errorf("Service-Type %v (%v), want %v", st, err, tt.serviceType)
			}
		})
	}
	p, _ := ProfileByName("rfc5176")
	if _, err := p.coaRequest(fullRef, now, 0); err == nil {
		t.Error("CoA with no Session-Timeout built")
	}
}

// A request must name a session; NAS identifiers alone could read as
// "every session on this NAS".
func TestProfileNeedsASessionIdentifier(t *testing.T) {
	now := time.Now()
	onlyNAS := SessionRef{NASIPAddress: netip.MustParseAddr("10.0.0.1"), NASIdentifier: "ap"}
	for _, name := range Profiles() {
		p, _ := ProfileByName(name)
		if _, err := p.disconnectRequest(onlyNAS, now); !errors.Is(err, errNoSessionIdentifier) {
			t.Errorf("%s: Disconnect without session identifiers: %v", name, err)
		}
	}
	aruba, _ := ProfileByName("aruba")
	if _, err := aruba.disconnectRequest(SessionRef{AcctSessionID: "1"}, now); !errors.Is(err, errNoSessionIdentifier) {
		t.Errorf("aruba with only Acct-Session-Id: %v", err)
	}
	// Partial identifiers: only what the NAS sent goes.
	p, _ := ProfileByName("rfc5176")
	pkt, err := p.disconnectRequest(SessionRef{CallingStationID: "02-00-00-00-00-09"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := attrTypes(pkt), []radius.Type{msgAuthType, rfc2865.CallingStationID_Type, rfc2869.EventTimestamp_Type}; !slices.Equal(got, want) {
		t.Errorf("attributes %v, want %v", got, want)
	}
}

func TestProfilePolicyAttributes(t *testing.T) {
	premium := vouchers.Policy{Name: "premium", VLAN: 20, BandwidthUpKbps: 10000, BandwidthDownKbps: 50000}
	tunnel := []radius.Type{rfc2868.TunnelType_Type, rfc2868.TunnelMediumType_Type, rfc2868.TunnelPrivateGroupID_Type}
	tests := []struct {
		profile string
		policy  vouchers.Policy
		types   []radius.Type
		up      uint32 // WISPr-Bandwidth-Max-Up, bit/s
		down    uint32
		rate    string // Mikrotik-Rate-Limit
	}{
		{"rfc5176", premium, append(slices.Clone(tunnel), rfc2865.VendorSpecific_Type, rfc2865.VendorSpecific_Type), 10_000_000, 50_000_000, ""},
		{"rfc5176", vouchers.Policy{Name: "standard"}, nil, 0, 0, ""},
		{"rfc5176", vouchers.Policy{VLAN: 30}, tunnel, 0, 0, ""},
		{"aruba", premium, append(slices.Clone(tunnel), rfc2865.VendorSpecific_Type, rfc2865.VendorSpecific_Type), 10_000_000, 50_000_000, ""},
		{"cisco-wlc", premium, append(slices.Clone(tunnel), rfc2865.VendorSpecific_Type, rfc2865.VendorSpecific_Type), 10_000_000, 50_000_000, ""},
		{"meraki", premium, append(slices.Clone(tunnel), rfc2865.VendorSpecific_Type, rfc2865.VendorSpecific_Type), 10_000_000, 50_000_000, ""},
		{"ruckus", premium, append(slices.Clone(tunnel), rfc2865.VendorSpecific_Type, rfc2865.VendorSpecific_Type), 10_000_000, 50_000_000, ""},
		{"mikrotik", premium, append(slices.Clone(tunnel), rfc2865.VendorSpecific_Type), 0, 0, "10000k/50000k"},
		{"mikrotik", vouchers.Policy{BandwidthDownKbps: 20000}, []radius.Type{rfc2865.VendorSpecific_Type}, 0, 0, "0/20000k"},
		{"mikrotik", vouchers.Policy{BandwidthUpKbps: 5000}, []radius.Type{rfc2865.VendorSpecific_Type}, 0, 0, "5000k/0"},
		{"mikrotik", vouchers.Policy{}, nil, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			p, err := ProfileByName(tt.profile)
			if err != nil {
				t.Fatal(err)
			}
			resp := &radius.Packet{Code: radius.CodeAccessAccept}
			p.PolicyAttributes(resp, tt.policy)
			if got := attrTypes(resp); !slices.Equal(got, tt.types) {
				t.Fatalf("attributes %v, want %v", got, tt.types)
			}
			if tt.policy.VLAN > 0 {
				if _, typ := rfc2868.TunnelType_Get(resp); typ != tunnelTypeVLAN {
					t.Errorf("Tunnel-Type %v", typ)
				}
				if _, m := rfc2868.TunnelMediumType_Get(resp); m != rfc2868.TunnelMediumType_Value_IEEE802 {
					t.Errorf("Tunnel-Medium-Type %v", m)
				}
				if _, id := rfc2868.TunnelPrivateGroupID_GetString(resp); id != "20" && id != "30" {
					t.Errorf("Tunnel-Private-Group-ID %q", id)
				}
			}
			if got := uint32(wispr.WISPrBandwidthMaxUp_Get(resp)); got != tt.up {
				t.Errorf("WISPr-Bandwidth-Max-Up %d, want %d", got, tt.up)
			}
			if got := uint32(wispr.WISPrBandwidthMaxDown_Get(resp)); got != tt.down {
				t.Errorf("WISPr-Bandwidth-Max-Down %d, want %d", got, tt.down)
			}
			if got := mikrotik.MikrotikRateLimit_GetString(resp); got != tt.rate {
				t.Errorf("Mikrotik-Rate-Limit %q, want %q", got, tt.rate)
			}
		})
	}
}

func TestProfileByName(t *testing.T) {
	if p, err := ProfileByName(""); err != nil || p.Name != DefaultProfile {
		t.Errorf(`ProfileByName("") = %q, %v`, p.Name, err)
	}
	if names := Profiles(); names[0] != DefaultProfile || len(names) != 6 {
		t.Errorf("Profiles() = %v", names)
	}
	_, err := ProfileByName("cisco")
	if err == nil {
		t.Fatal("unknown profile accepted")
	}
	for _, name := range Profiles() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	// A copy changed does not change the built-in profile.
	p, _ := ProfileByName("rfc5176")
	p.EventTimestamp = false
	if q, _ := ProfileByName("rfc5176"); !q.EventTimestamp {
		t.Error("built-in profile changed through a copy")
	}
}
