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

// tlsPolicy builds each conversation's tls.Config and asks the stay policy.
//
// Where the policy is asked matters. crypto/tls calls VerifyConnection
// after the device's Certificate message but before its CertificateVerify,
// so there the device has not yet proven it holds the certificate's key: a
// decision taken there would answer, to anyone replaying a guest's
// certificate (it travels in clear in TLS 1.2), whether that guest's stay
// is live, and would log the refusal against the guest. And a decision
// taken during the handshake can be stale by the time the device sends its
// last packet, which it may delay. So VerifyConnection only checks what the
// certificate itself says (present, meant for clients), and the stay policy
// (vouchers.Authorize: the chain to Keycard's CA, the device, its
// revocation, the stay) is asked once, when the handshake has succeeded and
// the Access-Accept is about to go out (authorize). That runs for full and
// resumed handshakes alike, so a resumed session never outlives the stay.
//
// The certificate chain is checked by the Authorizer, not by crypto/tls
// (RequireAnyClientCert): crypto/tls would fail first with a bare x509
// error, hiding the reason the admin needs, would refuse devices that send
// their leaf without the intermediate, and would check every chain twice.
// crypto/tls still checks the device's CertificateVerify signature, or on
// resumption the PSK binder, before the handshake can succeed.
type tlsPolicy struct {
	authorizer Authorizer
	online     OnlineDevices // nil: no simultaneous-use cap
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
	p := &tlsPolicy{authorizer: deps.Authorizer, online: deps.Online, now: deps.Now}
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

// configFor returns the TLS configuration of conversation c: the base with
// a VerifyConnection that records its refusals on c, and a WrapSession
// that holds the session tickets handed out in c on c.
//
// crypto/tls wraps a TLS 1.3 session ticket as soon as it has the device's
// CertificateVerify, before it has checked the device's Finished, and
// before the stay policy has spoken. So a ticket handed out in a
// conversation is only held on it, and enters the ticket store (and can
// resume) once the conversation ends in an Access-Accept (commitTickets):
// a handshake that fails afterwards (a bad Finished, a refused device, a
// device that never acknowledges the final flight) leaves the store as it
// was. The device holds a handle that resumes nothing and falls back to a
// full handshake.
func (p *tlsPolicy) configFor(c *conversation) *tls.Config {
	cfg := p.base.Clone()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error { return p.verify(c, cs) }
	if p.tickets != nil {
		cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			// The session may resume until the certificate's end, which
			// Keycard sets to the stay's check-out; every resumption asks
			// the stay policy again.
			var end time.Time
			if len(cs.PeerCertificates) > 0 {
				end = cs.PeerCertificates[0].NotAfter
			}
			t, err := p.tickets.seal(end, ss)
			if err != nil {
				return nil, err
			}
			c.holdTicket(t)
			return t.handle[:], nil
		}
	}
	return cfg
}

// commitTickets puts the session tickets handed out in conversation c into
// the ticket store, so that they can resume: call it only when c ends with
// the device admitted.
func (p *tlsPolicy) commitTickets(c *conversation) {
	if p.tickets == nil {
		return
	}
	d, at := c.decided()
	if d == nil || !d.Allowed {
		c.takeTickets()
		return
	}
	end := at.Add(d.Remaining)
	for _, t := range c.takeTickets() {
		p.tickets.commit(t, end)
	}
}

// verify checks what the peer's certificate says about itself; the stay
// policy comes after the handshake (see tlsPolicy).
func (p *tlsPolicy) verify(c *conversation, cs tls.ConnectionState) error {
	var d vouchers.Decision
	switch {
	case len(cs.PeerCertificates) == 0:
		d.Reason = reasonNoCertificate
	case !hasClientAuth(cs.PeerCertificates[0]):
		d.Reason = vouchers.ReasonNotClientCertificate
	default:
		return nil
	}
	c.setDecision(d, nil, time.Time{})
	return &RefusedError{Decision: d}
}

// maxDecisionAge is how old the stay policy's decision may be when the
// Access-Accept goes out; an older one (the device took its time over its
// last packet) is asked again, so a revocation in between counts.
const maxDecisionAge = time.Second

// admit is the eaptls policy hook: it asks the stay policy once the device
// has proven its key, before the server's final flight.
func (p *tlsPolicy) admit(c *conversation, cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return &RefusedError{Decision: vouchers.Decision{Reason: reasonNoCertificate}}
	}
	d, err := p.authorize(c.requestContext(), c, cs.PeerCertificates[0])
	if err != nil {
		return err
	}
	if !d.Allowed {
		return &RefusedError{Decision: d}
	}
	return nil
}

// current returns the decision for the Access-Accept: the one admit made,
// or a fresh one when that is older than maxDecisionAge.
func (p *tlsPolicy) current(ctx context.Context, c *conversation, leaf *x509.Certificate) (vouchers.Decision, error) {
	if d, at := c.decided(); d != nil && d.Allowed && p.now().Sub(at) <= maxDecisionAge {
		return *d, nil
	}
	return p.authorize(ctx, c, leaf)
}

// authorize asks the stay policy about a device that proved its key. A
// refusal drops the session tickets held in this conversation.
func (p *tlsPolicy) authorize(ctx context.Context, c *conversation, leaf *x509.Certificate) (vouchers.Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, authorizeTimeout)
	defer cancel()
	now := p.now()
	d, err := p.authorizer.Authorize(ctx, leaf, now)
	if err != nil {
		err = fmt.Errorf("radiusd: authorize: %w", err)
		d = vouchers.Decision{Reason: reasonServerError}
	}
	var evict []int64
	if err == nil && d.Allowed {
		d, evict = p.simultaneousUse(d, now)
	}
	if err != nil || !d.Allowed {
		c.takeTickets()
	}
	c.setDecision(d, err, now)
	c.setEvictions(evict)
	return d, err
}

// simultaneousUse applies the policy's cap on a stay's devices online at
// once (Policy.MaxOnline). It counts devices, not sessions, and never the
// device asking: a device roaming to another access point briefly has two
// sessions (the old one's Stop comes late) and must not be refused for
// it. Over the cap the device is refused ("too many devices online"), or,
// when the policy says so, let in while the stay's longest-online devices
// are named for eviction.
func (p *tlsPolicy) simultaneousUse(d vouchers.Decision, now time.Time) (vouchers.Decision, []int64) {
	limit := d.Policy.MaxOnline
	if limit <= 0 || p.online == nil {
		return d, nil
	}
	others := p.online.OnlineDevices(d.Stay.ID, now)
	delete(others, d.Device.ID)
	over := len(others) - limit + 1
	if over <= 0 {
		return d, nil
	}
	if !d.Policy.DisconnectOldest {
		d.Allowed, d.Reason, d.Remaining = false, reasonTooManyOnline, 0
		return d, nil
	}
	type online struct {
		device int64
		since  time.Time
	}
	list := make([]online, 0, len(others))
	for id, since := range others {
		list = append(list, online{id, since})
	}
	slices.SortFunc(list, func(a, b online) int {
		if c := a.since.Compare(b.since); c != 0 {
			return c
		}
		return int(a.device - b.device)
	})
	evict := make([]int64, 0, over)
	for _, o := range list[:over] {
		evict = append(evict, o.device)
	}
	return d, evict
}

// hasClientAuth reports whether cert may authenticate a TLS client.
func hasClientAuth(cert *x509.Certificate) bool {
	return slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
}
