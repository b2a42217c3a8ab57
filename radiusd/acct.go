package radiusd

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3162"

	"keycard/sessions"
)

// The accounting port (RFC 2866). An Accounting-Request is checked like an
// Access-Request (known NAS, sane size) and then by its Request
// Authenticator, MD5(Code+Identifier+Length+16 zero octets+Attributes+
// Secret), which proves the NAS knows the secret; a Message-Authenticator,
// when the NAS adds one, must verify too. The record goes to the store and
// the Accounting-Response goes out only once it is committed: an
// acknowledged record is never lost, and a record that could not be stored
// gets no answer, so the NAS sends it again.

// acctHandler is the whole accounting-port pipeline: the NAS lookup, then
// the steps of serveAccountingRequest.
func (s *Server) acctHandler() handler {
	return chain(handlerFunc(s.serveAccountingRequest), s.withNAS)
}

// serveAccountingRequest checks an Accounting-Request from a known NAS and
// records it: its sizes and attributes, its Request Authenticator (and
// Message-Authenticator), then behind the reply cache serveAccounting.
// Each step returns the drop error that ends the request.
func (s *Server) serveAccountingRequest(w responseWriter, r *request) error {
	a := &acctRequest{s: s}
	if err := a.parse(r); err != nil {
		return err
	}
	if err := a.checkAuthenticators(r); err != nil {
		return err
	}
	return serveCached(s.acctReplies, s.metrics.acctCacheHits, a, w, r)
}

// acctRequest is one Accounting-Request on its way through
// serveAccountingRequest: where the first attribute of each type
// serveAccounting reads is in the packet, found in one pass. The packet is
// not decoded into a radius.Packet's attributes (that copies each one,
// some thirty allocations for a hostapd Interim-Update); as with
// radius.Packet.Lookup, the first attribute of a type is the one that
// counts.
type acctRequest struct {
	s     *Server
	raw   []byte                 // the packet, trimmed to its Length
	first [len(acctTypes)]uint16 // offset of the first attribute of each of acctTypes plus one; 0: none

	// Scratch for the HMAC: slices given to a hash.Hash escape, so these
	// live here rather than on the stack (an allocation each).
	zero [16]byte
	mac  [msgAuthLen]byte
}

// acctTypes are the attributes serveAccounting reads.
var acctTypes = [...]radius.Type{
	rfc2866.AcctStatusType_Type, rfc2866.AcctSessionID_Type, rfc2865.UserName_Type,
	rfc2865.CallingStationID_Type, rfc2865.CalledStationID_Type, rfc2865.NASIdentifier_Type,
	rfc2866.AcctSessionTime_Type, rfc2866.AcctInputOctets_Type, rfc2866.AcctOutputOctets_Type,
	rfc2869.AcctInputGigawords_Type, rfc2869.AcctOutputGigawords_Type,
	rfc2866.AcctInputPackets_Type, rfc2866.AcctOutputPackets_Type, rfc2866.AcctTerminateCause_Type,
	rfc2865.FramedIPAddress_Type, rfc2865.NASIPAddress_Type, rfc3162.NASIPv6Address_Type,
	rfc2865.NASPort_Type, rfc2869.NASPortID_Type, rfc2869.EventTimestamp_Type, rfc2866.AcctDelayTime_Type,
	rfc2865.Class_Type,
}

// acctSlot is the index in acctTypes of each attribute type, plus one (0:
// not read).
var acctSlot = func() (slot [256]uint8) {
	for i, t := range acctTypes {
		slot[t] = uint8(i + 1)
	}
	return slot
}()

// parse checks the datagram as request.parse does (size, Length, code, the
// attributes' lengths), indexes its attributes and sets r.packet to the
// header and Proxy-State attributes, which the reply cache and the answer
// need. It returns the drop error otherwise.
func (a *acctRequest) parse(r *request) error {
	if len(r.raw) > radius.MaxPacketLength {
		return drop(dropOversized, nil)
	}
	n, err := packetLength(r.raw)
	if err != nil {
		var short shortError
		if errors.As(err, &short) {
			return drop(dropShort, err)
		}
		return drop(dropMalformed, err)
	}
	r.raw = r.raw[:n]
	if code := radius.Code(r.raw[0]); code != radius.CodeAccountingRequest {
		return drop(dropBadCode, errors.New(code.String()))
	}
	a.raw = r.raw
	var proxyStates radius.Attributes
	for off := headerLen; off < n; {
		if n-off < 2 {
			return drop(dropMalformed, errors.New("radiusd: short attribute"))
		}
		typ, l := r.raw[off], int(r.raw[off+1])
		if l < 2 || off+l > n {
			return drop(dropMalformed, errors.New("radiusd: invalid attribute length"))
		}
		if i := acctSlot[typ]; i != 0 && a.first[i-1] == 0 {
			a.first[i-1] = uint16(off + 1)
		}
		if radius.Type(typ) == rfc2865.ProxyState_Type {
			proxyStates = append(proxyStates, &radius.AVP{Type: rfc2865.ProxyState_Type, Attribute: r.raw[off+2 : off+l]})
		}
		off += l
	}
	r.packet = &radius.Packet{Code: radius.CodeAccountingRequest, Identifier: r.raw[1], Secret: r.nas.Secret, Attributes: proxyStates}
	copy(r.packet.Authenticator[:], r.raw[4:headerLen])
	return nil
}

// offset is where the first attribute of type t (one of acctTypes) starts,
// or -1.
func (a *acctRequest) offset(t radius.Type) int {
	i := acctSlot[byte(t)]
	if i == 0 {
		panic(fmt.Sprintf("radiusd: attribute %d is not indexed for accounting", t))
	}
	return int(a.first[i-1]) - 1
}

// lookup returns the value of the first attribute of type t.
func (a *acctRequest) lookup(t radius.Type) ([]byte, bool) {
	off := a.offset(t)
	if off < 0 {
		return nil, false
	}
	return a.raw[off+2 : off+int(a.raw[off+1])], true
}

// integer is the first attribute of type t as an RFC 2865 integer (false
// when there is none or it is not four octets, as radius.Integer says).
func (a *acctRequest) integer(t radius.Type) (uint32, bool) {
	v, ok := a.lookup(t)
	if !ok || len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// text is the first attribute of type t as a string ("" when none).
func (a *acctRequest) text(t radius.Type) string {
	v, _ := a.lookup(t)
	return string(v)
}

// addr is the first attribute of type t as an address of n octets.
func (a *acctRequest) addr(t radius.Type, n int) netip.Addr {
	v, ok := a.lookup(t)
	if !ok || len(v) != n {
		return netip.Addr{}
	}
	ip, _ := netip.AddrFromSlice(v)
	return ip
}

// each calls f with the value of every attribute of type t, in order,
// until f returns false.
func (a *acctRequest) each(t radius.Type, f func(v []byte) bool) {
	off := a.offset(t)
	if off < 0 {
		return
	}
	for ; off < len(a.raw); off += int(a.raw[off+1]) {
		if radius.Type(a.raw[off]) == t && !f(a.raw[off+2:off+int(a.raw[off+1])]) {
			return
		}
	}
}

func (a *acctRequest) serveRADIUS(w responseWriter, r *request) error {
	return a.s.serveAccounting(w, r, a)
}

// checkAuthenticators drops an Accounting-Request whose Request
// Authenticator (or Message-Authenticator, when present) does not match
// the NAS's secret.
func (a *acctRequest) checkAuthenticators(r *request) error {
	want := accountingRequestAuthenticator(r.raw, r.key.secret)
	if subtle.ConstantTimeCompare(want[:], r.raw[4:headerLen]) != 1 {
		return drop(dropBadRequestAuth, nil)
	}
	// In an Accounting-Request the Message-Authenticator is computed
	// with the Authenticator field zeroed (RFC 3579 section 3.2, as
	// hostapd and radclient send it).
	switch at, err := findMessageAuthenticator(r.raw); {
	case errors.Is(err, errNoMsgAuth):
	case err != nil:
		return drop(dropMalformed, err)
	default:
		mac := r.key.hmacs.Get().(hash.Hash)
		mac.Reset()
		mac.Write(r.raw[:4])
		mac.Write(a.zero[:])
		mac.Write(r.raw[headerLen:at])
		mac.Write(a.zero[:])
		mac.Write(r.raw[at+msgAuthLen:])
		sum := mac.Sum(a.mac[:0]) // into a, not a new slice
		r.key.hmacs.Put(mac)
		if subtle.ConstantTimeCompare(sum, r.raw[at:at+msgAuthLen]) != 1 {
			return drop(dropBadMsgAuth, nil)
		}
	}
	return nil
}

// accountingRequestAuthenticator is RFC 2866 section 3's Request
// Authenticator of pkt (trimmed to its Length): the MD5 of the packet with
// its Authenticator zeroed, then the secret.
func accountingRequestAuthenticator(pkt, secret []byte) [md5.Size]byte {
	var zero [16]byte
	return md5Of(pkt[:4], zero[:], pkt[headerLen:], secret)
}

// md5Of is the MD5 of the parts in order. They are copied into a buffer on
// the stack when they fit (they do for the accounting packets NASes send,
// a few hundred octets): md5.Sum allocates nothing, where the slices given
// to a hash.Hash's Write escape.
func md5Of(parts ...[]byte) [md5.Size]byte {
	var buf [512]byte
	b := buf[:0]
	for _, p := range parts {
		if len(b)+len(p) > len(buf) {
			h := md5.New()
			for _, p := range parts {
				h.Write(p)
			}
			var sum [md5.Size]byte
			h.Sum(sum[:0])
			return sum
		}
		b = append(b, p...)
	}
	return md5.Sum(b)
}

// accountingResponse encodes the Accounting-Response to r, as
// encodeResponse encodes one with no attributes of its own: a
// Message-Authenticator first (computed with the Authenticator field
// zeroed, as FreeRADIUS checks it; hostapd does not check it), then the
// request's Proxy-States in order (RFC 2865 section 5.33), under the
// Response Authenticator, MD5(Code+Identifier+Length+Request
// Authenticator+Attributes+Secret).
func accountingResponse(r *request) ([]byte, error) {
	n := headerLen + 2 + msgAuthLen
	for _, a := range r.packet.Attributes {
		n += 2 + len(a.Attribute)
	}
	if n > radius.MaxPacketLength {
		return nil, fmt.Errorf("radiusd: encode Accounting-Response: %d bytes with the request's Proxy-States", n)
	}
	b := make([]byte, n)
	b[0], b[1] = byte(radius.CodeAccountingResponse), r.packet.Identifier
	binary.BigEndian.PutUint16(b[2:4], uint16(n))
	b[headerLen], b[headerLen+1] = byte(msgAuthType), 2+msgAuthLen
	off := headerLen + 2 + msgAuthLen
	for _, a := range r.packet.Attributes {
		b[off], b[off+1] = byte(a.Type), byte(2+len(a.Attribute))
		off += 2 + copy(b[off+2:], a.Attribute)
	}
	// The Message-Authenticator, over b with its own value and the
	// Authenticator field still zero.
	const at = headerLen + 2
	mac := r.key.hmacs.Get().(hash.Hash)
	mac.Reset()
	mac.Write(b)
	mac.Sum(b[at:at])
	r.key.hmacs.Put(mac)
	copy(b[4:headerLen], r.packet.Authenticator[:])
	sum := md5Of(b, r.key.secret)
	copy(b[4:headerLen], sum[:])
	return b, nil
}

// serveAccounting records one Accounting-Request and answers it.
func (s *Server) serveAccounting(w responseWriter, r *request, a *acctRequest) error {
	s.metrics.acctRequests.Inc()
	st, ok := a.integer(rfc2866.AcctStatusType_Type)
	if !ok {
		return drop(dropAcctMalformed, errors.New("no Acct-Status-Type"))
	}
	status := rfc2866.AcctStatusType(st)
	at := s.eventTime(a)
	switch status {
	case rfc2866.AcctStatusType_Value_AccountingOn, rfc2866.AcctStatusType_Value_AccountingOff:
		// The NAS (re)started or is going down: none of its sessions
		// survive (RFC 2866 section 5.1).
		cause := "NAS-Reboot"
		if status == rfc2866.AcctStatusType_Value_AccountingOff {
			cause = "NAS-Request"
		}
		n, err := s.deps.Accounting.CloseNAS(r.ctx, r.nas.Name, at, cause)
		if err != nil {
			s.logger.Error("radiusd: accounting: cannot close the NAS's sessions; not acknowledged, the NAS will retry",
				"nas", r.nas.Name, "status", status.String(), "err", err)
			return drop(dropAcctStoreFailed, err)
		}
		s.metrics.acctStored(status).Inc()
		s.logger.Info("radiusd: accounting "+status.String(), "nas", r.nas.Name, "sessions_closed", n)
	case rfc2866.AcctStatusType_Value_Start, rfc2866.AcctStatusType_Value_Stop, rfc2866.AcctStatusType_Value_InterimUpdate:
		rec, err := s.accountingRecord(r, a, status, at)
		if err != nil {
			return drop(dropAcctMalformed, err)
		}
		started := time.Now()
		sess, err := s.deps.Accounting.Record(r.ctx, rec)
		s.metrics.acctCommit.Observe(time.Since(started).Seconds())
		if errors.Is(err, sessions.ErrInvalidRecord) {
			return drop(dropAcctMalformed, err)
		}
		if err != nil {
			s.logger.Error("radiusd: accounting record not stored; not acknowledged, the NAS will retry",
				"nas", r.nas.Name, "acct_session_id", rec.AcctSessionID, "status", status.String(), "err", err)
			return drop(dropAcctStoreFailed, err)
		}
		s.metrics.acctStored(status).Inc()
		if s.deps.SessionSeen != nil && sess.Open() && status == rfc2866.AcctStatusType_Value_Start {
			s.deps.SessionSeen(context.WithoutCancel(r.ctx), sess)
		}
		s.logRecord(r, &rec, &sess)
	default:
		// Another status (Failed, tunnel accounting): nothing to record,
		// but answered so the NAS does not resend it forever.
		s.metrics.acctStored(status).Inc()
		if s.logger.Enabled(r.ctx, slog.LevelDebug) {
			s.logger.Debug("radiusd: accounting status not recorded", "nas", r.nas.Name, "status", status.String())
		}
	}
	b, err := accountingResponse(r)
	if err != nil {
		return drop(dropInternal, err)
	}
	w.writeReply(b, 0)
	return nil
}

// logRecord logs a stored record: Start and Stop at info, Interim-Update
// at debug. The attributes are built only when the level is enabled.
func (s *Server) logRecord(r *request, rec *sessions.Record, sess *sessions.Session) {
	level, msg := slog.LevelInfo, "radiusd: accounting start"
	switch rec.Kind {
	case sessions.Stop:
		msg = "radiusd: accounting stop"
	case sessions.Interim:
		level, msg = slog.LevelDebug, "radiusd: accounting interim"
	}
	if !s.logger.Enabled(r.ctx, level) {
		return
	}
	s.logger.LogAttrs(r.ctx, level, msg,
		slog.Int64("session", sess.ID), slog.String("nas", r.nas.Name),
		slog.String("acct_session_id", rec.AcctSessionID),
		slog.Int64("stay", sess.StayID), slog.Int64("device", sess.DeviceID),
		slog.String("calling_station", rec.CallingStationID),
		slog.Uint64("input_octets", sess.InputOctets), slog.Uint64("output_octets", sess.OutputOctets),
		slog.String("terminate_cause", rec.TerminateCause))
}

// maxEventSkew is how far an Event-Timestamp may be from the server's
// clock and still be believed; a NAS without NTP sends 1970.
const maxEventSkew = 24 * time.Hour

// eventTime is when the NAS says the event happened: Event-Timestamp
// (RFC 2869) when it is plausible, else now minus Acct-Delay-Time.
func (s *Server) eventTime(a *acctRequest) time.Time {
	now := s.deps.Now()
	if sec, ok := a.integer(rfc2869.EventTimestamp_Type); ok {
		ts := time.Unix(int64(sec), 0)
		if d := now.Sub(ts); d < maxEventSkew && d > -maxEventSkew {
			return ts
		}
	}
	delay, _ := a.integer(rfc2866.AcctDelayTime_Type)
	d := time.Duration(delay) * time.Second
	if d > maxEventSkew {
		d = 0
	}
	return now.Add(-d)
}

// accountingRecord decodes a Start, Interim-Update or Stop.
func (s *Server) accountingRecord(r *request, a *acctRequest, status rfc2866.AcctStatusType, at time.Time) (sessions.Record, error) {
	id := a.text(rfc2866.AcctSessionID_Type)
	if id == "" {
		return sessions.Record{}, fmt.Errorf("%s without Acct-Session-Id", status)
	}
	counter := func(t radius.Type) uint64 { v, _ := a.integer(t); return uint64(v) }
	rec := sessions.Record{
		NAS:              r.nas.Name,
		AcctSessionID:    id,
		At:               at,
		UserName:         a.text(rfc2865.UserName_Type),
		CallingStationID: a.text(rfc2865.CallingStationID_Type),
		CalledStationID:  a.text(rfc2865.CalledStationID_Type),
		NASAddress:       r.remote.Addr().Unmap().WithZone(""),
		NASIdentifier:    a.text(rfc2865.NASIdentifier_Type),
		SessionTime:      time.Duration(counter(rfc2866.AcctSessionTime_Type)) * time.Second,
		InputOctets:      counter(rfc2866.AcctInputOctets_Type) | counter(rfc2869.AcctInputGigawords_Type)<<32,
		OutputOctets:     counter(rfc2866.AcctOutputOctets_Type) | counter(rfc2869.AcctOutputGigawords_Type)<<32,
		InputPackets:     counter(rfc2866.AcctInputPackets_Type),
		OutputPackets:    counter(rfc2866.AcctOutputPackets_Type),
		FramedIP:         a.addr(rfc2865.FramedIPAddress_Type, 4),
		NASIPAddress:     a.addr(rfc2865.NASIPAddress_Type, 4),
		NASIPv6Address:   a.addr(rfc3162.NASIPv6Address_Type, 16),
	}
	switch status {
	case rfc2866.AcctStatusType_Value_Start:
		rec.Kind = sessions.Start
	case rfc2866.AcctStatusType_Value_Stop:
		rec.Kind = sessions.Stop
		if c, ok := a.integer(rfc2866.AcctTerminateCause_Type); ok {
			rec.TerminateCause = terminateCause(rfc2866.AcctTerminateCause(c))
		}
	default:
		rec.Kind = sessions.Interim
	}
	if port, ok := a.integer(rfc2865.NASPort_Type); ok {
		rec.NASPort = strconv.FormatUint(uint64(port), 10)
	} else if id := a.text(rfc2869.NASPortID_Type); id != "" {
		rec.NASPort = id
	}
	rec.StayID, rec.DeviceID = s.whose(r, a, rec.UserName)
	return rec, nil
}

// whose ties a record to a stay and a device: by the Class Keycard put in
// the Access-Accept (the NAS echoes it), else by the User-Name when it is a
// device identity. 0, 0 when neither says.
func (s *Server) whose(r *request, a *acctRequest, userName string) (stay, device int64) {
	a.each(rfc2865.Class_Type, func(v []byte) bool {
		var ok bool
		stay, device, ok = parseClass(v)
		return !ok
	})
	if stay != 0 {
		return stay, device
	}
	id, ok := deviceIdentity(userName)
	if !ok || s.deps.Devices == nil {
		return 0, 0
	}
	d, err := s.deps.Devices.Device(r.ctx, id)
	if err != nil {
		return 0, 0
	}
	return d.StayID, d.ID
}

// parseClass reads what classOf wrote, "keycard:stay=<id>:device=<id>",
// exactly as classString writes it (no sign, no leading zero, no trailing
// bytes): another server's Class, or a mangled one, is not ours.
func parseClass(c []byte) (stay, device int64, ok bool) {
	rest, ok := bytes.CutPrefix(c, []byte("keycard:stay="))
	if !ok {
		return 0, 0, false
	}
	st, rest, ok := bytes.Cut(rest, []byte(":device="))
	if !ok {
		return 0, 0, false
	}
	if stay, ok = classID(st); !ok {
		return 0, 0, false
	}
	if device, ok = classID(rest); !ok {
		return 0, 0, false
	}
	return stay, device, true
}

// classID reads a positive decimal id as strconv.FormatInt writes it.
func classID(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 || b[0] == '0' {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n < 0 {
			return 0, false // past MaxInt64
		}
	}
	return n, true
}

// deviceIdentity reads a device certificate's CommonName, "device-<id>".
func deviceIdentity(userName string) (int64, bool) {
	rest, ok := strings.CutPrefix(userName, "device-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != rest {
		return 0, false
	}
	return id, true
}

// terminateCause names an Acct-Terminate-Cause (RFC 2866 section 5.10),
// or gives its number when the dictionary does not know it.
func terminateCause(c rfc2866.AcctTerminateCause) string {
	if name, ok := rfc2866.AcctTerminateCause_Strings[c]; ok {
		return name
	}
	return "cause-" + strconv.Itoa(int(c))
}
