package radiusd

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"errors"
	"fmt"
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

// acctHandler is the whole accounting-port pipeline.
func (s *Server) acctHandler() handler {
	return chain(handlerFunc(s.serveAccounting),
		s.withNAS,
		s.withAcctParse,
		s.withRequestAuthenticator,
		s.withAcctReplyCache,
	)
}

// withAcctParse checks sizes and decodes the packet; only
// Accounting-Request belongs on the accounting port.
func (s *Server) withAcctParse(next handler) handler {
	return handlerFunc(func(w responseWriter, r *request) error {
		if err := r.parse(radius.CodeAccountingRequest); err != nil {
			return err
		}
		return next.serveRADIUS(w, r)
	})
}

// withRequestAuthenticator drops an Accounting-Request whose Request
// Authenticator (or Message-Authenticator, when present) does not match
// the NAS's secret.
func (s *Server) withRequestAuthenticator(next handler) handler {
	return handlerFunc(func(w responseWriter, r *request) error {
		want := accountingRequestAuthenticator(r.raw, r.key.secret)
		if subtle.ConstantTimeCompare(want[:], r.raw[4:headerLen]) != 1 {
			return drop(dropBadRequestAuth, nil)
		}
		// In an Accounting-Request the Message-Authenticator is computed
		// with the Authenticator field zeroed (RFC 3579 section 3.2, as
		// hostapd and radclient send it).
		var zero [16]byte
		switch at, err := findMessageAuthenticator(r.raw); {
		case errors.Is(err, errNoMsgAuth):
		case err != nil:
			return drop(dropMalformed, err)
		default:
			mac := r.key.messageAuthenticator(r.raw, at, zero[:])
			if subtle.ConstantTimeCompare(mac[:], r.raw[at:at+msgAuthLen]) != 1 {
				return drop(dropBadMsgAuth, nil)
			}
		}
		return next.serveRADIUS(w, r)
	})
}

// accountingRequestAuthenticator is RFC 2866 section 3's Request
// Authenticator of pkt (trimmed to its Length).
func accountingRequestAuthenticator(pkt, secret []byte) [md5.Size]byte {
	var zero [16]byte
	h := md5.New()
	h.Write(pkt[:4])
	h.Write(zero[:])
	h.Write(pkt[headerLen:])
	h.Write(secret)
	var sum [md5.Size]byte
	h.Sum(sum[:0])
	return sum
}

// withAcctReplyCache answers a retransmitted Accounting-Request with the
// Accounting-Response already sent, and drops one whose first copy is still
// waiting for its commit. A retransmission that finds no cached answer (it
// came later than the cache keeps them) is recorded again, which changes
// nothing: the store merges cumulative counters, never adds them.
func (s *Server) withAcctReplyCache(next handler) handler {
	return handlerFunc(func(w responseWriter, r *request) error {
		return serveCached(s.acctReplies, s.metrics.acctCacheHits, next, w, r)
	})
}

// serveAccounting records one Accounting-Request and answers it.
func (s *Server) serveAccounting(w responseWriter, r *request) error {
	s.metrics.requests.WithLabelValues(r.packet.Code.String()).Inc()
	status, err := rfc2866.AcctStatusType_Lookup(r.packet)
	if err != nil {
		return drop(dropAcctMalformed, errors.New("no Acct-Status-Type"))
	}
	at := s.eventTime(r.packet)
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
		s.metrics.acct.WithLabelValues(acctLabel(status)).Inc()
		s.logger.Info("radiusd: accounting "+status.String(), "nas", r.nas.Name, "sessions_closed", n)
	case rfc2866.AcctStatusType_Value_Start, rfc2866.AcctStatusType_Value_Stop, rfc2866.AcctStatusType_Value_InterimUpdate:
		rec, err := s.accountingRecord(r, status, at)
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
		s.metrics.acct.WithLabelValues(acctLabel(status)).Inc()
		if s.deps.SessionSeen != nil && sess.Open() && status == rfc2866.AcctStatusType_Value_Start {
			s.deps.SessionSeen(context.WithoutCancel(r.ctx), sess)
		}
		level := slog.LevelInfo
		if status == rfc2866.AcctStatusType_Value_InterimUpdate {
			level = slog.LevelDebug
		}
		s.logger.LogAttrs(r.ctx, level, "radiusd: accounting "+rec.Kind.String(),
			slog.Int64("session", sess.ID), slog.String("nas", r.nas.Name),
			slog.String("acct_session_id", rec.AcctSessionID),
			slog.Int64("stay", sess.StayID), slog.Int64("device", sess.DeviceID),
			slog.String("calling_station", rec.CallingStationID),
			slog.Uint64("input_octets", sess.InputOctets), slog.Uint64("output_octets", sess.OutputOctets),
			slog.String("terminate_cause", rec.TerminateCause))
	default:
		// Another status (Failed, tunnel accounting): nothing to record,
		// but answered so the NAS does not resend it forever.
		s.metrics.acct.WithLabelValues("other").Inc()
		s.logger.Debug("radiusd: accounting status not recorded", "nas", r.nas.Name, "status", status.String())
	}
	return s.respond(w, r, r.packet.Response(radius.CodeAccountingResponse), 0)
}

func acctLabel(st rfc2866.AcctStatusType) string {
	switch st {
	case rfc2866.AcctStatusType_Value_Start:
		return "start"
	case rfc2866.AcctStatusType_Value_Stop:
		return "stop"
	case rfc2866.AcctStatusType_Value_InterimUpdate:
		return "interim"
	case rfc2866.AcctStatusType_Value_AccountingOn:
		return "accounting_on"
	case rfc2866.AcctStatusType_Value_AccountingOff:
		return "accounting_off"
	}
	return "other"
}

// maxEventSkew is how far an Event-Timestamp may be from the server's
// clock and still be believed; a NAS without NTP sends 1970.
const maxEventSkew = 24 * time.Hour

// eventTime is when the NAS says the event happened: Event-Timestamp
// (RFC 2869) when it is plausible, else now minus Acct-Delay-Time.
func (s *Server) eventTime(p *radius.Packet) time.Time {
	now := s.deps.Now()
	if ts, err := rfc2869.EventTimestamp_Lookup(p); err == nil {
		if d := now.Sub(ts); d < maxEventSkew && d > -maxEventSkew {
			return ts
		}
	}
	delay := time.Duration(rfc2866.AcctDelayTime_Get(p)) * time.Second
	if delay > maxEventSkew {
		delay = 0
	}
	return now.Add(-delay)
}

// accountingRecord decodes a Start, Interim-Update or Stop.
func (s *Server) accountingRecord(r *request, status rfc2866.AcctStatusType, at time.Time) (sessions.Record, error) {
	p := r.packet
	id := rfc2866.AcctSessionID_GetString(p)
	if id == "" {
		return sessions.Record{}, fmt.Errorf("%s without Acct-Session-Id", status)
	}
	rec := sessions.Record{
		NAS:              r.nas.Name,
		AcctSessionID:    id,
		At:               at,
		UserName:         rfc2865.UserName_GetString(p),
		CallingStationID: rfc2865.CallingStationID_GetString(p),
		CalledStationID:  rfc2865.CalledStationID_GetString(p),
		NASAddress:       r.remote.Addr().Unmap().WithZone(""),
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
	rec.StayID, rec.DeviceID = s.whose(r, rec.UserName)
	return rec, nil
}

// whose ties a record to a stay and a device: by the Class Keycard put in
// the Access-Accept (the NAS echoes it), else by the User-Name when it is a
// device identity. 0, 0 when neither says.
func (s *Server) whose(r *request, userName string) (stay, device int64) {
	for _, a := range r.packet.Attributes {
		if a.Type != rfc2865.Class_Type {
			continue
		}
		if st, dev, ok := parseClass(string(a.Attribute)); ok {
			return st, dev
		}
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

// parseClass reads what classOf wrote.
func parseClass(c string) (stay, device int64, ok bool) {
	var st, dev int64
	if n, err := fmt.Sscanf(c, "keycard:stay=%d:device=%d", &st, &dev); err != nil || n != 2 || st <= 0 || dev <= 0 {
		return 0, 0, false
	}
	if c != classString(st, dev) {
		return 0, 0, false // trailing bytes: not ours
	}
	return st, dev, true
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
