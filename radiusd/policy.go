package radiusd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"keycard/vouchers"
)

// RefusedError is the error VerifyConnection returns when the stay policy
// refuses a certificate; the TLS handshake fails with it and the Decision
// (with its Reason) is what the Access-Reject reports.
type RefusedError struct {
	Decision vouchers.Decision
}

func (e *RefusedError) Error() string { return "radiusd: refused: " + string(e.Decision.Reason) }

// authorizeTimeout bounds one Authorizer call.
const authorizeTimeout = 5 * time.Second

// tlsPolicy builds each conversation's tls.Config from one shared base, so
// that VerifyConnection can hand the conversation its Decision.
//
// The certificate chain is checked once, by the Authorizer (vouchers
// verifies it against Keycard's root and issuing CA, and names the reason:
// wrong CA, expired, not yet valid). crypto/tls is therefore told to
// require a certificate but not to verify it itself: its verification
// would fail first with a bare x509 error, hiding the reason the admin
// needs, would refuse devices that send their leaf without the
// intermediate, and would verify every chain twice. crypto/tls still checks
// the peer's CertificateVerify signature with the leaf's key.
type tlsPolicy struct {
	authorizer Authorizer
	now        func() time.Time
	tickets    *ticketStore // nil when resumption is off
	base       *tls.Config
	serverCert atomic.Pointer[tls.Certificate]
}

func newTLSPolicy(cfg *Config, deps *Deps) (*tlsPolicy, error) {
	if len(deps.ServerCertificate.Certificate) == 0 || deps.ServerCertificate.PrivateKey == nil {
		return nil, errors.New("radiusd: no server certificate")
	}
	if deps.ClientCAs == nil {
		return nil, errors.New("radiusd: no client CA pool")
	}
	p := &tlsPolicy{authorizer: deps.Authorizer, now: deps.Now}
	p.setServerCertificate(deps.ServerCertificate)
	p.base = &tls.Config{
		// Through a callback so that a renewed certificate is used from the
		// next handshake on, without a restart.
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return p.serverCert.Load(), nil },
		ClientAuth:     tls.RequireAnyClientCert,
		// ClientCAs is not used for verification under RequireAnyClientCert;
		// it names Keycard's CA in the CertificateRequest so that a device
		// holding several certificates offers the right one.
		ClientCAs:              deps.ClientCAs,
		MinVersion:             cfg.TLSMinVersion,
		MaxVersion:             cfg.TLSMaxVersion,
		CurvePreferences:       slices.Clone(cfg.Curves),
		SessionTicketsDisabled: !cfg.sessionResumption(),
		Time:                   deps.Now,
		Rand:                   deps.Rand,
	}
	if cfg.sessionResumption() {
		p.tickets = newTicketStore(cfg.EAPSessions*4, deps.Now, deps.Rand)
		p.base.UnwrapSession = p.tickets.unwrap
	}
	return p, nil
}

func (p *tlsPolicy) setServerCertificate(c tls.Certificate) { p.serverCert.Store(&c) }

// configFor returns the TLS configuration of one conversation: the base
// with a VerifyConnection that asks the Authorizer and records the
// decision on c. VerifyConnection runs on full and resumed handshakes
// alike, so a resumed session never outlives the stay.
func (p *tlsPolicy) configFor(c *conversation) *tls.Config {
	cfg := p.base.Clone()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error { return p.verify(c, cs) }
	if p.tickets != nil {
		cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			return p.tickets.wrap(p.sessionEnd(c, cs), ss)
		}
	}
	return cfg
}

// sessionEnd is when a session issued now must stop resuming: the end of
// the stay as decided in this handshake. On a resumed TLS 1.3 handshake
// crypto/tls issues the new ticket before VerifyConnection has run, so
// then the end is the certificate's NotAfter, which Keycard sets to the
// stay's check-out (VerifyConnection still asks the stay policy at every
// resumption, so an early checkout refuses the session all the same).
// The zero time means "do not resume".
func (p *tlsPolicy) sessionEnd(c *conversation, cs tls.ConnectionState) time.Time {
	if d, _ := c.result(); d != nil {
		if !d.Allowed {
			return time.Time{}
		}
		return p.now().Add(d.Remaining)
	}
	if len(cs.PeerCertificates) > 0 {
		return cs.PeerCertificates[0].NotAfter
	}
	return time.Time{}
}

// verify applies the stay policy to the peer's leaf certificate: on a full
// handshake the one the device just sent, on a resumed one the one restored
// from the session.
func (p *tlsPolicy) verify(c *conversation, cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		d := vouchers.Decision{Reason: reasonNoCertificate}
		c.setDecision(d, nil)
		return &RefusedError{Decision: d}
	}
	leaf := cs.PeerCertificates[0]
	if !hasClientAuth(leaf) {
		d := vouchers.Decision{Reason: vouchers.ReasonNotClientCertificate}
		c.setDecision(d, nil)
		return &RefusedError{Decision: d}
	}
	ctx, cancel := context.WithTimeout(c.requestContext(), authorizeTimeout)
	defer cancel()
	d, err := p.authorizer.Authorize(ctx, leaf, p.now())
	if err != nil {
		err = fmt.Errorf("radiusd: authorize: %w", err)
		c.setDecision(vouchers.Decision{Reason: reasonServerError}, err)
		return err
	}
	c.setDecision(d, nil)
	if !d.Allowed {
		return &RefusedError{Decision: d}
	}
	return nil
}

// hasClientAuth reports whether cert may authenticate a TLS client.
func hasClientAuth(cert *x509.Certificate) bool {
	return slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
}
