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
	Allowed   bool
	Reason    Reason
	Stay      Stay
	Device    Device
	Policy    Policy
	Remaining time.Duration // until the stay's check-out or the certificate's NotAfter, whichever is first
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
func (s *Store) Authorize(ctx context.Context, cert *x509.Certificate, now time.Time) (Decision, error) {
	if cert == nil || cert.SerialNumber == nil {
		return Decision{Reason: ReasonUnknownDevice}, nil
	}
	if r := s.verifyChain(cert, now); r != ReasonOK {
		return Decision{Reason: r}, nil
	}
	var dr deviceRow
	var sr stayRow
	var before int
	dest := append(dr.dest(), sr.dest()...)
	dest = append(dest, &before)
	err := s.authorizeQuery.row(ctx, s.db, dbTime(now), SerialHex(cert)).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return Decision{Reason: ReasonUnknownDevice}, nil
	}
	if err != nil {
		return Decision{}, fmt.Errorf("vouchers: authorize serial %s: %w", SerialHex(cert), err)
	}
	if dr.d.Identity != cert.Subject.CommonName {
		// Our serial under another name: not the certificate we issued.
		return Decision{Reason: ReasonUnknownDevice}, nil
	}
	dec := Decision{Device: dr.device(), Stay: sr.stay()}
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
		dec.Remaining = minTime(checkOut, cert.NotAfter).Sub(now)
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
