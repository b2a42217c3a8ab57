package radiusd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2868"
	"layeh.com/radius/rfc2869"

	"keycard/eaptls"
	"keycard/vouchers"
)

// Reasons radiusd itself gives for a reject, beside the stay rules of
// vouchers.Reason. Each is logged and is a label of
// keycard_radius_auth_total.
const (
	reasonNotEAP              vouchers.Reason = "not EAP"                  // Access-Request without EAP-Message
	reasonUnknownConversation vouchers.Reason = "unknown EAP conversation" // State expired, replaced or forged
	reasonTLSFailed           vouchers.Reason = "TLS handshake failed"     // bad chain, no common version, peer alert...
	reasonNoCertificate       vouchers.Reason = "no client certificate"
	reasonServerError         vouchers.Reason = "server error" // the Authorizer failed
	reasonServerBusy          vouchers.Reason = "server busy"  // the reassembly budget is spent (a flood)
	reasonTooManyOnline       vouchers.Reason = "too many devices online"
)

// outcome is what the log line and the metrics of one finished
// authentication need.
type outcome struct {
	conv     *conversation // nil when no conversation was found
	result   eaptls.Result
	decision vouchers.Decision
	reason   vouchers.Reason
	err      error
}

// Microsoft vendor attributes (RFC 2548).
const (
	vendorMicrosoft = 311
	msMPPESendKey   = 16
	msMPPERecvKey   = 17
)

// tunnelTypeVLAN is Tunnel-Type VLAN (RFC 3580 section 3.31), which
// layeh's RFC 2868 dictionary does not name.
const tunnelTypeVLAN rfc2868.TunnelType = 13

// accept answers with Access-Accept: EAP-Success, the MPPE keys, and the
// stay's session limits and policy.
func (s *Server) accept(w responseWriter, r *request, eapOut []byte, o outcome) error {
	d := o.decision
	resp := r.packet.Response(radius.CodeAccessAccept)
	addEAPMessage(resp, eapOut)
	if id := d.Device.Identity; id != "" {
		rfc2865.UserName_AddString(resp, truncate(id, maxAttrValue))
	} else if len(o.result.PeerCertificates) > 0 {
		rfc2865.UserName_AddString(resp, truncate(o.result.PeerCertificates[0].Subject.CommonName, maxAttrValue))
	}
	rfc2865.Class_AddString(resp, classOf(d))
	timeout, capped := s.sessionTimeout(d)
	rfc2865.SessionTimeout_Add(resp, rfc2865.SessionTimeout(timeout))
	if capped {
		// Re-authenticate rather than disconnect when the timeout comes:
		// the device is asked again (a cheap resumed handshake) and the
		// stay policy decides afresh.
		rfc2865.TerminationAction_Add(resp, rfc2865.TerminationAction_Value_RADIUSRequest)
	}
	rfc2869.AcctInterimInterval_Add(resp, rfc2869.AcctInterimInterval(clampUint32(int64(s.cfg.AcctInterimInterval/time.Second))))
	if len(o.result.MSK) < 64 {
		return s.logAndDrop(r, o, fmt.Errorf("MSK of %d bytes", len(o.result.MSK)))
	}
	var salts [2][2]byte
	if err := mppeSalts(s.deps.Rand, &salts); err != nil {
		return s.logAndDrop(r, o, err)
	}
	recv, err := mppeKeyAttribute(msMPPERecvKey, o.result.MSK[:32], salts[0], r.nas.Secret, r.packet.Authenticator[:])
	if err != nil {
		return s.logAndDrop(r, o, err)
	}
	send, err := mppeKeyAttribute(msMPPESendKey, o.result.MSK[32:64], salts[1], r.nas.Secret, r.packet.Authenticator[:])
	if err != nil {
		return s.logAndDrop(r, o, err)
	}
	resp.Add(rfc2865.VendorSpecific_Type, recv)
	resp.Add(rfc2865.VendorSpecific_Type, send)
	// The stay's policy (VLAN, bandwidth) in the words this NAS
	// understands.
	prof, err := ProfileByName(r.nas.Profile)
	if err != nil {
		s.logger.Error("radiusd: NAS has an unknown profile; using the default", "nas", r.nas.Name, "profile", r.nas.Profile, "default", DefaultProfile)
		prof, _ = ProfileByName(DefaultProfile)
	}
	prof.PolicyAttributes(resp, d.Policy)
	return s.finish(w, r, resp, 0, "accept", o)
}

// sessionTimeout is the Session-Timeout of an Access-Accept: the seconds
// left in the stay, capped at Config.MaxSessionTimeout (capped is then
// true) so that a device behind an access point that ignores
// Disconnect-Request is asked again at least that often.
func (s *Server) sessionTimeout(d vouchers.Decision) (seconds uint32, capped bool) {
	left := d.SecondsLeft()
	if max := int64(s.cfg.MaxSessionTimeout / time.Second); max > 0 && left > max {
		return clampUint32(max), true
	}
	return clampUint32(left), false
}

// reject answers with Access-Reject carrying eapOut (an EAP-Failure, or
// nothing for a request without EAP) and a Reply-Message, after
// Config.RejectDelay. The delay is a timer, not a sleeping worker.
func (s *Server) reject(w responseWriter, r *request, eapOut []byte, o outcome) error {
	resp := r.packet.Response(radius.CodeAccessReject)
	addEAPMessage(resp, eapOut)
	rfc2865.ReplyMessage_AddString(resp, truncate("Keycard: access refused: "+string(o.reason), maxAttrValue))
	return s.finish(w, r, resp, s.cfg.RejectDelay, "reject", o)
}

// finish encodes the final answer, records the decision, then sends: the
// log line and the metrics exist before the NAS can see the answer.
func (s *Server) finish(w responseWriter, r *request, resp *radius.Packet, delay time.Duration, result string, o outcome) error {
	b, err := encodeResponse(resp, r.packet, r.key)
	if err != nil {
		return s.logAndDrop(r, o, err)
	}
	s.record(r, result, o)
	w.writeReply(b, delay)
	return nil
}

// logAndDrop handles an answer that could not be built.
func (s *Server) logAndDrop(r *request, o outcome, err error) error {
	s.logger.Error("radiusd: cannot build answer", "nas", r.nas.Name, "reason", string(o.reason), "err", err)
	return drop(dropInternal, err)
}

// record logs one line per decision and counts it. It never logs a key or
// a secret.
func (s *Server) record(r *request, result string, o outcome) {
	s.metrics.auth.WithLabelValues(result, string(o.reason)).Inc()
	start := r.received
	if o.conv != nil {
		start = o.conv.started
	}
	s.metrics.authDuration.Observe(time.Since(start).Seconds())
	if o.result.Rounds > 0 {
		s.metrics.authRounds.Observe(float64(o.result.Rounds))
	}
	attrs := []slog.Attr{
		slog.String("outcome", result),
		slog.String("reason", string(o.reason)),
		slog.Int64("stay", o.decision.Stay.ID),
		slog.Int64("device", o.decision.Device.ID),
		slog.String("nas", r.nas.Name),
		slog.String("calling_station", rfc2865.CallingStationID_GetString(r.packet)),
	}
	if o.result.Version != 0 {
		attrs = append(attrs, slog.String("tls_version", tls.VersionName(o.result.Version)))
	}
	attrs = append(attrs, slog.Bool("resumed", o.result.Resumed), slog.Int("rounds", o.result.Rounds))
	if o.err != nil {
		var refused *RefusedError
		if !errors.As(o.err, &refused) {
			attrs = append(attrs, slog.String("err", o.err.Error()))
		}
	}
	level := slog.LevelInfo
	if o.reason == reasonServerError {
		level = slog.LevelError
	}
	s.logger.LogAttrs(r.ctx, level, "radiusd: auth "+result, attrs...)
}

// classOf ties accounting back to the stay and the device (RFC 2865 Class
// is echoed by the NAS in Accounting-Request).
func classOf(d vouchers.Decision) string { return classString(d.Stay.ID, d.Device.ID) }

// classString is the Class of a stay's device; parseClass reads it back.
func classString(stay, device int64) string {
	return fmt.Sprintf("keycard:stay=%d:device=%d", stay, device)
}

// mppeSalts fills two distinct salts with the high bit set (RFC 2548
// section 2.4.2: each salt in a packet must be unique).
func mppeSalts(rand io.Reader, salts *[2][2]byte) error {
	for {
		var b [4]byte
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return fmt.Errorf("radiusd: MPPE salt: %w", err)
		}
		salts[0] = [2]byte{b[0] | 0x80, b[1]}
		salts[1] = [2]byte{b[2] | 0x80, b[3]}
		if salts[0] != salts[1] {
			return nil
		}
	}
}

// mppeKeyAttribute returns the Vendor-Specific attribute carrying an
// MS-MPPE-Send-Key or MS-MPPE-Recv-Key (RFC 2548 sections 2.4.2, 2.4.3):
// Salt, then Key-Length, Key and zero padding to a multiple of 16 octets,
// encrypted as b(1) = MD5(secret + Request-Authenticator + Salt),
// c(i) = p(i) xor b(i), b(i) = MD5(secret + c(i-1)). That is the
// Tunnel-Password construction of RFC 2868, which layeh implements; the
// salt comes from the caller so the server's randomness is injectable.
func mppeKeyAttribute(vendorType byte, key []byte, salt [2]byte, secret, requestAuthenticator []byte) (radius.Attribute, error) {
	enc, err := radius.NewTunnelPassword(key, salt[:], secret, requestAuthenticator)
	if err != nil {
		return nil, fmt.Errorf("radiusd: MPPE key: %w", err)
	}
	vsa := append([]byte{vendorType, byte(2 + len(enc))}, enc...)
	a, err := radius.NewVendorSpecific(vendorMicrosoft, vsa)
	if err != nil {
		return nil, fmt.Errorf("radiusd: MPPE key: %w", err)
	}
	return a, nil
}

func clampUint32(v int64) uint32 {
	switch {
	case v < 0:
		return 0
	case v > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
