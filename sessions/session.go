package sessions

import (
	"net/netip"
	"time"
)

// Kind is what an accounting record reports (RFC 2866 Acct-Status-Type).
type Kind int

// The kinds of record. Accounting-On and Accounting-Off are not records
// of one session: they go to Store.CloseNAS.
const (
	Start   Kind = 1
	Stop    Kind = 2
	Interim Kind = 3
)

func (k Kind) String() string {
	switch k {
	case Start:
		return "start"
	case Stop:
		return "stop"
	case Interim:
		return "interim"
	}
	return "unknown"
}

// Record is one accounting packet as radiusd decoded it: everything the
// store keeps, and nothing of RADIUS itself. Counters are the session's
// totals so far (RFC 2866 counters are cumulative), octets already joined
// with their Gigawords (RFC 2869).
type Record struct {
	Kind          Kind
	NAS           string // Keycard's name of the NAS client that sent it
	AcctSessionID string // unique per session at that NAS
	At            time.Time

	// Who: from the Class Keycard put in the Access-Accept, else from the
	// User-Name (the device identity). 0 = not known; the record is kept
	// anyway.
	StayID   int64
	DeviceID int64

	UserName         string
	CallingStationID string     // the device's MAC, as the NAS wrote it
	CalledStationID  string     // the AP's MAC:SSID
	FramedIP         netip.Addr // the device's address, when the NAS knows it
	NASAddress       netip.Addr // where the packet came from: the DAS target by default
	NASIPAddress     netip.Addr // NAS-IP-Address as the NAS sent it
	NASIPv6Address   netip.Addr // NAS-IPv6-Address as the NAS sent it
	NASIdentifier    string     // NAS-Identifier as the NAS sent it
	NASPort          string     // NAS-Port or NAS-Port-Id, for the log

	SessionTime    time.Duration // Acct-Session-Time
	InputOctets    uint64
	OutputOctets   uint64
	InputPackets   uint64
	OutputPackets  uint64
	TerminateCause string // Stop only: "User-Request", "Session-Timeout", ...
}

// Session is one device's time on the network at one NAS, built from its
// accounting records.
type Session struct {
	ID            int64
	NAS           string
	AcctSessionID string
	StayID        int64 // 0: not tied to a stay
	DeviceID      int64 // 0: not tied to a device

	UserName         string
	CallingStationID string
	CalledStationID  string
	FramedIP         netip.Addr
	NASAddress       netip.Addr
	NASIPAddress     netip.Addr
	NASIPv6Address   netip.Addr
	NASIdentifier    string

	StartedAt time.Time
	UpdatedAt time.Time  // the last record received
	StoppedAt *time.Time // nil while open

	SessionTime    time.Duration
	InputOctets    uint64
	OutputOctets   uint64
	InputPackets   uint64
	OutputPackets  uint64
	TerminateCause string

	// Stale: open, but no record for more than two interim intervals (the
	// NAS may have lost it without a Stop).
	Stale bool

	// The last Disconnect or CoA Keycard sent for this session.
	DisconnectAt      *time.Time
	DisconnectOutcome string // "ack", "nak: ...", "no answer", "closed (session not found at the NAS)"
}

// Open reports whether the session has had no Stop.
func (s Session) Open() bool { return s.StoppedAt == nil }

// Usage is what a stay (or one session) used: time online and traffic.
type Usage struct {
	Sessions      int
	Online        int           // sessions open now
	TimeOnline    time.Duration // sum of session times
	InputOctets   uint64
	OutputOctets  uint64
	InputPackets  uint64
	OutputPackets uint64
}

// Filter selects sessions for List.
type Filter struct {
	StayID   int64 // 0: any stay
	DeviceID int64 // 0: any device
	NAS      string
	All      bool // include closed sessions; by default only open ones
	Limit    int  // 0: no limit
}
