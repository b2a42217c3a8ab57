package vouchers

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Reason says why Authorize allowed or refused a certificate. The values
// are stable: radiusd logs them and uses them as metric labels.
type Reason string

// The reasons, in the one place they are defined.
const (
	ReasonOK                     Reason = "ok"
	ReasonUnknownDevice          Reason = "unknown device"
	ReasonRevoked                Reason = "revoked"
	ReasonStayNotStarted         Reason = "stay not started"
	ReasonStayEnded              Reason = "stay ended"
	ReasonWrongCA                Reason = "wrong CA"
	ReasonCertificateExpired     Reason = "certificate expired"
	ReasonCertificateNotYetValid Reason = "certificate not yet valid"
	ReasonNotClientCertificate   Reason = "not a client certificate"
	ReasonDeviceCap              Reason = "device cap"
	ReasonUnknownPolicy          Reason = "unknown policy"
)

// Reasons lists every Reason, e.g. to pre-register metric labels.
func Reasons() []Reason {
	return []Reason{ReasonOK, ReasonUnknownDevice, ReasonRevoked, ReasonStayNotStarted, ReasonStayEnded,
		ReasonWrongCA, ReasonCertificateExpired, ReasonCertificateNotYetValid, ReasonNotClientCertificate,
		ReasonDeviceCap, ReasonUnknownPolicy}
}

// Decision is Authorize's answer. Stay, Device and Policy are filled as
// far as they were found, also when the device is refused.
type Decision struct {
	Allowed bool
	Reason  Reason
	Stay    Stay
	Device  Device
	Policy  Policy
	// Remaining is until the stay's check-out or the certificate's
	// NotAfter, whichever is first; for a certificate accepted past its
	// NotAfter (an extended stay, see Authorize) until the check-out.
	Remaining time.Duration
}

// SecondsLeft is Remaining in whole seconds for RADIUS Session-Timeout:
// rounded down so a session never outlives the stay, but at least 1 when
// allowed (0 would mean "no limit" to some access points). 0 when refused.
func (d Decision) SecondsLeft() int64 {
	if !d.Allowed {
		return 0
	}
	return max(int64(d.Remaining/time.Second), 1)
}

// Authorize decides whether cert (a client's leaf certificate) may use the
// network at now. It runs on every authentication, full or resumed: it
// verifies the chain against Options.Roots and Intermediates with the
// clientAuth usage, then reads the device and its stay in one indexed
// query, and writes nothing. The error is only for a database failure;
// every refusal is a Decision with a Reason.
//
// # Extended stays: a certificate past its NotAfter
//
// A device certificate's NotAfter is the stay's check-out as booked when
// the device enrolled. It cannot be lengthened when staff extend the stay
// (ExtendStay): the end is signed into it and the key lives on the device.
// Rather than make the guest enrol every device again, Authorize accepts
// such a certificate past its NotAfter, because Keycard is the only relying
// party for it: it comes from Keycard's private CA, carries the clientAuth
// usage, and is checked by nobody but Keycard's RADIUS server (crypto/tls
// runs with RequireAnyClientCert and leaves the chain to Authorize). The
// stay, not the certificate, is the source of truth, and the NotAfter is an
// upper bound for the stay as first booked.
//
// So when the chain fails only because the leaf has expired (now is after
// its NotAfter; not a certificate not yet valid, from another CA or for
// another usage), Authorize verifies the chain again at the leaf's NotAfter
// (every signature and every CA still checked, at a time all were valid)
// and requires every CA of the chain to be valid now as well (a retired
// issuing CA does not come back). It then accepts the certificate only if
// it is exactly the one Keycard issued (the device row's serial, identity
// and not_after match it), the device is not revoked, the stay is live now,
// and the stay's check-out is later than the certificate's NotAfter (the
// stay was extended past it); Remaining is then until the check-out. A
// certificate of a stay that was not extended, an unknown certificate, or
// one whose NotAfter is not the one on record is refused as "certificate
// expired", as before. The verified-chains cache answers this question with
// the same checks as x509.Verify (see verifiedChains); the device and the
// stay are read from the database every time.
func (s *Store) Authorize(ctx context.Context, cert *x509.Certificate, now time.Time) (Decision, error) {
	if cert == nil || cert.SerialNumber == nil {
		return Decision{Reason: ReasonUnknownDevice}, nil
	}
	r := s.verifyChain(cert, now)
	pastNotAfter := false
	switch {
	case r == ReasonOK:
		// At the NotAfter instant itself x509 still accepts the chain, but
		// the certificate has no time left: the extended-stay rules apply
		// from there, so an extended stay's device is not refused for it.
		pastNotAfter = !now.Before(cert.NotAfter)
	case r == ReasonCertificateExpired && s.verifyPastExpiry(cert, now):
		pastNotAfter = true
	default:
		return Decision{Reason: r}, nil
	}
	var dr deviceRow
	var sr stayRow
	var before int
	dest := append(dr.dest(), sr.dest()...)
	dest = append(dest, &before)
	err := s.authorizeQuery.row(ctx, s.db, dbTime(now), SerialHex(cert)).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		if pastNotAfter {
			return Decision{Reason: ReasonCertificateExpired}, nil
		}
		return Decision{Reason: ReasonUnknownDevice}, nil
	}
	if err != nil {
		return Decision{}, fmt.Errorf("vouchers: authorize serial %s: %w", SerialHex(cert), err)
	}
	if dr.d.Identity != cert.Subject.CommonName {
		// Our serial under another name: not the certificate we issued.
		if pastNotAfter {
			return Decision{Reason: ReasonCertificateExpired}, nil
		}
		return Decision{Reason: ReasonUnknownDevice}, nil
	}
	dec := Decision{Device: dr.device(), Stay: sr.stay()}
	if pastNotAfter && !(dec.Device.NotAfter.Equal(cert.NotAfter) && dec.Stay.CheckOut.After(cert.NotAfter)) {
		// Not the certificate on record, or a stay that was not extended
		// past it: expired, as it would be without extensions.
		return Decision{Reason: ReasonCertificateExpired}, nil
	}
	dec.Policy = s.policies[dec.Stay.Policy]
	checkOut := dec.Stay.CheckOut
	switch {
	case dec.Device.RevokedAt != nil:
		dec.Reason = ReasonRevoked
	case dec.Stay.Over(now):
		dec.Reason = ReasonStayEnded
	case now.Before(dec.Stay.CheckIn):
		dec.Reason = ReasonStayNotStarted
	case before >= dec.Stay.MaxDevices:
		dec.Reason = ReasonDeviceCap
	case dec.Policy.Name == "":
		dec.Reason = ReasonUnknownPolicy
	default:
		// The stay is the source of truth: a certificate Keycard issued
		// (the row's NotAfter is this certificate's) lasts until the
		// check-out, also after an extension moved it past the
		// certificate's NotAfter, so the session does not drop at the old
		// check-out. Anything else ends with the certificate at the latest.
		end := minTime(checkOut, cert.NotAfter)
		if pastNotAfter || dec.Device.NotAfter.Equal(cert.NotAfter) {
			end = checkOut
		}
		dec.Remaining = end.Sub(now)
		if dec.Remaining <= 0 {
			dec.Remaining, dec.Reason = 0, ReasonCertificateExpired
			break
		}
		dec.Allowed, dec.Reason = true, ReasonOK
	}
	return dec, nil
}

// minTime is min for times (time.Time is not ordered).
func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// verifyChain checks cert against the hotel's CA at now. The system roots
// are never used: without Roots every certificate is the wrong CA.
func (s *Store) verifyChain(cert *x509.Certificate, now time.Time) Reason {
	if s.roots == nil {
		s.log.Error("vouchers: no CA roots configured; refusing every certificate")
		return ReasonWrongCA
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		// A leaf without any EKU would pass Verify as "any usage": demand
		// clientAuth explicitly.
		if _, err := cert.Verify(x509.VerifyOptions{Roots: s.roots, Intermediates: s.inters, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return chainReason(cert, now, err)
		}
		return ReasonNotClientCertificate
	}
	if s.chains.valid(cert, now) {
		return ReasonOK
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         s.roots,
		Intermediates: s.inters,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return chainReason(cert, now, err)
	}
	s.chains.add(chains[0])
	return ReasonOK
}

// verifyPastExpiry checks, for a certificate whose chain failed at now as
// expired, that the leaf alone has expired and is otherwise sound: a
// clientAuth leaf (the explicit usage, as verifyChain demands) whose chain
// verifies at the leaf's NotAfter, with every CA of that chain still valid
// at now. Authorize then applies the extended-stay rules to it. The chain
// is remembered like verifyChain's: signatures only.
func (s *Store) verifyPastExpiry(cert *x509.Certificate, now time.Time) bool {
	if s.roots == nil || !now.After(cert.NotAfter) || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return false
	}
	if s.chains.validPastExpiry(cert, now) {
		return true
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         s.roots,
		Intermediates: s.inters,
		CurrentTime:   cert.NotAfter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return false
	}
	for _, chain := range chains {
		if caWindow(chain).contains(now) {
			s.chains.add(chain)
			return true
		}
	}
	return false
}

func chainReason(cert *x509.Certificate, now time.Time, err error) Reason {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		switch invalid.Reason {
		case x509.Expired:
			if now.Before(cert.NotBefore) {
				return ReasonCertificateNotYetValid
			}
			return ReasonCertificateExpired
		case x509.IncompatibleUsage:
			return ReasonNotClientCertificate
		}
	}
	return ReasonWrongCA
}
