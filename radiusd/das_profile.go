package radiusd

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
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

// DefaultProfile is the DAS/policy profile of a NAS that names none: RFC
// 5176 as hostapd implements it.
const DefaultProfile = "rfc5176"

// coaPortLegacy is the port Cisco WLC and Meraki listen on for CoA-Request
// (the RFC 3576 era port), while they take Disconnect-Request on the DAS
// port.
const coaPortLegacy = 1700

// SessionIdentifiers says which identifiers of a session a Disconnect-Request
// or CoA-Request carries. Each goes only when the NAS sent it in accounting
// (SessionRef), byte for byte as it sent it.
type SessionIdentifiers struct {
	UserName         bool
	AcctSessionID    bool
	CallingStationID bool
	// NAS: NAS-IP-Address, NAS-IPv6-Address and NAS-Identifier, whichever
	// the NAS sent. RFC 5176 section 3: a NAS answers NAK with Error-Cause
	// 403 (NAS Identification Mismatch) when they do not name it, so only
	// its own values are ever sent.
	NAS bool
}

// A Profile is how one family of access points wants Dynamic Authorization
// (RFC 5176) requests and the stay's policy in an Access-Accept. Each NAS
// names one (NAS.Profile); ProfileByName returns it. Profiles are values:
// a copy can be changed without touching the built-in ones.
type Profile struct {
	Name        string
	Description string // one line, for help texts
	// Identifiers are what a Disconnect-Request and a CoA-Request carry to
	// name the session.
	Identifiers SessionIdentifiers
	// EventTimestamp adds Event-Timestamp (RFC 2869) to every request: the
	// replay protection hostapd (radius_das_time_window, default 300 s),
	// Aruba and Cisco check.
	EventTimestamp bool
	// CoAServiceType, when not zero, is a Service-Type added to every
	// CoA-Request (never to a Disconnect-Request: RFC 5176 section 3.2 says
	// Service-Type MUST NOT be in one).
	CoAServiceType rfc2865.ServiceType
	// CoAPort is where CoA-Request goes when the NAS sets no CoAPort of its
	// own; 0 means the NAS's DASPort.
	CoAPort int

	policy func(resp *radius.Packet, p vouchers.Policy)
}

// allIdentifiers is what RFC 5176 and hostapd's DAS match on: hostapd
// looks the session up by User-Name, Acct-Session-Id and
// Calling-Station-Id, any it finds, and checks the NAS identifiers against
// its own.
var allIdentifiers = SessionIdentifiers{UserName: true, AcctSessionID: true, CallingStationID: true, NAS: true}

// profiles are the built-in profiles; ProfileByName hands out copies and
// nothing writes to them.
var profiles = [...]Profile{
	{
		Name:           "rfc5176",
		Description:    "RFC 5176 as hostapd implements it (the default): User-Name, Acct-Session-Id, Calling-Station-Id, Event-Timestamp; CoA on the DAS port",
		Identifiers:    allIdentifiers,
		EventTimestamp: true,
	},
	{
		// Aruba matches a Disconnect on User-Name and Calling-Station-Id;
		// field reports have it refuse one that also carries
		// Acct-Session-Id (not checked against a controller here). A role
		// (Aruba-User-Role) is only needed when one is configured; Keycard
		// configures none, so the VLAN goes in the standard tunnel
		// attributes.
		Name:           "aruba",
		Description:    "Aruba controllers and Instant APs: like rfc5176 without Acct-Session-Id",
		Identifiers:    SessionIdentifiers{UserName: true, CallingStationID: true, NAS: true},
		EventTimestamp: true,
	},
	{
		Name:           "cisco-wlc",
		Description:    "Cisco Wireless LAN Controller: like rfc5176, CoA on port 1700",
		Identifiers:    allIdentifiers,
		EventTimestamp: true,
		CoAPort:        coaPortLegacy,
	},
	{
		Name:           "meraki",
		Description:    "Cisco Meraki: like rfc5176, CoA on port 1700",
		Identifiers:    allIdentifiers,
		EventTimestamp: true,
		CoAPort:        coaPortLegacy,
	},
	{
		// Ruckus ZoneDirector is reported to NAK a CoA-Request without
		// Service-Type (not checked against a device here). The value is
		// Framed-User, the service the session already has, and not
		// Authorize-Only: RFC 5176 section 3.2 makes Authorize-Only a
		// different exchange (the NAS MUST answer CoA-NAK with Error-Cause
		// 507 Request Initiated and re-authorize with an Access-Request; the
		// request MUST carry State and no other authorization attribute), so
		// a new Session-Timeout sent with it would never be applied.
		Name:           "ruckus",
		Description:    "Ruckus ZoneDirector and SmartZone: like rfc5176, Service-Type Framed-User on CoA-Request",
		Identifiers:    allIdentifiers,
		EventTimestamp: true,
		CoAServiceType: rfc2865.ServiceType_Value_FramedUser,
	},
	{
		Name:           "mikrotik",
		Description:    "MikroTik RouterOS: like rfc5176, bandwidth as Mikrotik-Rate-Limit",
		Identifiers:    allIdentifiers,
		EventTimestamp: true,
		policy:         mikrotikPolicy,
	},
}

// Profiles returns the names of the built-in profiles, the default first.
func Profiles() []string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return names
}

// ProfileByName returns the profile called name (DefaultProfile when name
// is empty), or an error naming the choices.
func ProfileByName(name string) (Profile, error) {
	if name == "" {
		name = DefaultProfile
	}
	for _, p := range profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("radiusd: unknown NAS profile %q: use one of %s", name, strings.Join(Profiles(), ", "))
}

// PolicyAttributes adds the stay's policy to an Access-Accept: the VLAN and
// the bandwidth limits, in the attributes this profile's access points
// read. Nothing is added for a zero VLAN or bandwidth.
func (p Profile) PolicyAttributes(resp *radius.Packet, pol vouchers.Policy) {
	if p.policy != nil {
		p.policy(resp, pol)
		return
	}
	standardPolicy(resp, pol)
}

// standardPolicy is the VLAN as RFC 3580 tunnel attributes (Tunnel-Type
// VLAN, Tunnel-Medium-Type IEEE-802, Tunnel-Private-Group-ID) and the
// bandwidth as WISPr-Bandwidth-Max-Up/Down in bit/s: what hostapd, Aruba,
// Cisco, Meraki and Ruckus read.
func standardPolicy(resp *radius.Packet, pol vouchers.Policy) {
	addVLAN(resp, pol.VLAN)
	if up := pol.BandwidthUpKbps; up > 0 {
		wispr.WISPrBandwidthMaxUp_Add(resp, wispr.WISPrBandwidthMaxUp(clampUint32(int64(up)*1000)))
	}
	if down := pol.BandwidthDownKbps; down > 0 {
		wispr.WISPrBandwidthMaxDown_Add(resp, wispr.WISPrBandwidthMaxDown(clampUint32(int64(down)*1000)))
	}
}

// mikrotikPolicy is the VLAN as tunnel attributes and the bandwidth as
// Mikrotik-Rate-Limit (vendor 14988, attribute 8): "rx-rate/tx-rate" seen
// from the router, so rx is the guest's upload and tx its download, each a
// number with k (1000s) or 0 for no limit. RouterOS takes Rate-Limit over
// WISPr, so WISPr is not sent as well.
func mikrotikPolicy(resp *radius.Packet, pol vouchers.Policy) {
	addVLAN(resp, pol.VLAN)
	up, down := pol.BandwidthUpKbps, pol.BandwidthDownKbps
	if up <= 0 && down <= 0 {
		return
	}
	rate := func(kbps int) string {
		if kbps <= 0 {
			return "0"
		}
		return strconv.Itoa(kbps) + "k"
	}
	mikrotik.MikrotikRateLimit_AddString(resp, rate(up)+"/"+rate(down))
}

func addVLAN(resp *radius.Packet, vlan int) {
	if vlan <= 0 {
		return
	}
	rfc2868.TunnelType_Add(resp, 0, tunnelTypeVLAN)
	rfc2868.TunnelMediumType_Add(resp, 0, rfc2868.TunnelMediumType_Value_IEEE802)
	rfc2868.TunnelPrivateGroupID_AddString(resp, 0, strconv.Itoa(vlan))
}

// coaPort is where a CoA-Request for n goes: n.CoAPort, else the
// profile's, else n's DAS port.
func (p Profile) coaPort(n NAS) int {
	switch {
	case n.CoAPort != 0:
		return n.CoAPort
	case p.CoAPort != 0:
		return p.CoAPort
	}
	return n.dasPort()
}

func (n NAS) dasPort() int {
	if n.DASPort == 0 {
		return DefaultDASPort
	}
	return n.DASPort
}

// errNoSessionIdentifier refuses a request that would name no session: a
// NAS may read a Disconnect-Request carrying only NAS identifiers as "every
// session".
var errNoSessionIdentifier = errors.New("the session has none of the identifiers the profile sends")

// disconnectRequest builds an unsigned Disconnect-Request for ref, with a
// zero Message-Authenticator first (BlastRADIUS, CVE-2024-3596) for
// signRequest to fill.
func (p Profile) disconnectRequest(ref SessionRef, now time.Time) (*radius.Packet, error) {
	pkt := &radius.Packet{Code: radius.CodeDisconnectRequest}
	if err := p.sessionAttributes(pkt, ref, now); err != nil {
		return nil, err
	}
	return pkt, nil
}

// coaRequest builds an unsigned CoA-Request for ref that sets a new
// Session-Timeout (whole seconds, rounded up).
func (p Profile) coaRequest(ref SessionRef, now time.Time, sessionTimeout time.Duration) (*radius.Packet, error) {
	if sessionTimeout <= 0 {
		return nil, fmt.Errorf("session timeout %v: a CoA needs a positive one (send a Disconnect to end the session)", sessionTimeout)
	}
	pkt := &radius.Packet{Code: radius.CodeCoARequest}
	if err := p.sessionAttributes(pkt, ref, now); err != nil {
		return nil, err
	}
	if p.CoAServiceType != 0 {
		rfc2865.ServiceType_Add(pkt, p.CoAServiceType)
	}
	secs := int64((sessionTimeout + time.Second - 1) / time.Second)
	rfc2865.SessionTimeout_Add(pkt, rfc2865.SessionTimeout(clampUint32(secs)))
	return pkt, nil
}

// sessionAttributes adds Message-Authenticator (zero), the profile's
// identifiers of ref and Event-Timestamp.
func (p Profile) sessionAttributes(pkt *radius.Packet, ref SessionRef, now time.Time) error {
	pkt.Add(msgAuthType, make(radius.Attribute, msgAuthLen))
	id := p.Identifiers
	session := 0
	addString := func(typ radius.Type, name, v string) error {
		a, err := radius.NewString(v)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		pkt.Add(typ, a)
		return nil
	}
	if id.UserName && ref.UserName != "" {
		if err := addString(rfc2865.UserName_Type, "User-Name", ref.UserName); err != nil {
			return err
		}
		session++
	}
	if id.NAS {
		if a := ref.NASIPAddress.Unmap(); a.Is4() {
			rfc2865.NASIPAddress_Add(pkt, net.IP(a.AsSlice()))
		}
		if a := ref.NASIPv6Address; a.Is6() && !a.Is4In6() {
			rfc3162.NASIPv6Address_Add(pkt, net.IP(a.AsSlice()))
		}
		if ref.NASIdentifier != "" {
			if err := addString(rfc2865.NASIdentifier_Type, "NAS-Identifier", ref.NASIdentifier); err != nil {
				return err
			}
		}
	}
	if id.CallingStationID && ref.CallingStationID != "" {
		if err := addString(rfc2865.CallingStationID_Type, "Calling-Station-Id", ref.CallingStationID); err != nil {
			return err
		}
		session++
	}
	if id.AcctSessionID && ref.AcctSessionID != "" {
		if err := addString(rfc2866.AcctSessionID_Type, "Acct-Session-Id", ref.AcctSessionID); err != nil {
			return err
		}
		session++
	}
	if session == 0 {
		return errNoSessionIdentifier
	}
	if p.EventTimestamp {
		if err := rfc2869.EventTimestamp_Add(pkt, now); err != nil {
			return fmt.Errorf("Event-Timestamp %v: %w", now, err)
		}
	}
	return nil
}
