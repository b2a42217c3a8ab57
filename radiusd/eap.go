package radiusd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"keycard/eaptls"
	"keycard/vouchers"
)

// maxEAPMessage caps the joined EAP-Message attributes of one request; a
// RADIUS packet cannot carry more anyway.
const maxEAPMessage = radius.MaxPacketLength

// maxAttrValue is the largest value of one RADIUS attribute.
const maxAttrValue = 253

var errNoEAP = errors.New("no EAP-Message")

// joinEAPMessage concatenates the EAP-Message attributes of p (RFC 3579
// section 3.1) and checks that they hold exactly one EAP packet.
func joinEAPMessage(p *radius.Packet) ([]byte, error) {
	var out []byte
	for _, a := range p.Attributes {
		if a.Type != rfc2869.EAPMessage_Type {
			continue
		}
		if len(out)+len(a.Attribute) > maxEAPMessage {
			return nil, fmt.Errorf("EAP-Message over %d bytes", maxEAPMessage)
		}
		out = append(out, a.Attribute...)
	}
	if out == nil {
		return nil, errNoEAP
	}
	if len(out) < 4 {
		return nil, fmt.Errorf("EAP-Message of %d bytes is shorter than an EAP header", len(out))
	}
	if n := int(out[2])<<8 | int(out[3]); n != len(out) {
		return nil, fmt.Errorf("EAP length %d but %d bytes of EAP-Message", n, len(out))
	}
	return out, nil
}

// addEAPMessage splits an EAP packet into EAP-Message attributes of at most
// 253 bytes each.
func addEAPMessage(p *radius.Packet, eap []byte) {
	for len(eap) > 0 {
		n := min(len(eap), maxAttrValue)
		p.Add(rfc2869.EAPMessage_Type, radius.Attribute(eap[:n:n]))
		eap = eap[n:]
	}
}

// A conversation is one EAP-TLS authentication in flight, found by its
// State. Its eaptls.Session is used by one worker at a time (busy); a
// conversation evicted or replaced while busy is closed when the worker
// is done.
type conversation struct {
	state   [16]byte
	nas     string
	station stationKey
	started time.Time
	session *eaptls.Session

	mu     sync.Mutex
	busy   bool
	closed bool
	ctx    context.Context // of the request being stepped; read by VerifyConnection

	decisionMu sync.Mutex
	decision   *vouchers.Decision
	decidedAt  time.Time
	authErr    error
	tickets    [][ticketHandleSize]byte // session tickets handed out in this conversation
}

// addTicket records a session ticket handed out in this conversation.
func (c *conversation) addTicket(h []byte) {
	if len(h) != ticketHandleSize {
		return
	}
	c.decisionMu.Lock()
	defer c.decisionMu.Unlock()
	c.tickets = append(c.tickets, [ticketHandleSize]byte(h))
}

func (c *conversation) ticketHandles() [][ticketHandleSize]byte {
	c.decisionMu.Lock()
	defer c.decisionMu.Unlock()
	return slices.Clone(c.tickets)
}

// acquire marks c busy; false when it is busy already or closed.
func (c *conversation) acquire(ctx context.Context) (ok, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.busy {
		return false, c.closed
	}
	c.busy, c.ctx = true, ctx
	return true, false
}

func (c *conversation) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy, c.ctx = false, nil
	if c.closed {
		c.session.Close()
	}
}

// step runs one EAP step on the acquired conversation and releases it,
// even if the step panics (the worker recovers), so the conversation is not
// left busy.
func (c *conversation) step(in []byte, framedMTU int) ([]byte, eaptls.Result) {
	defer c.release()
	return c.session.Step(in, framedMTU)
}

// close frees the session now, or when the worker using it is done. It
// never touches the conversation table, so the table may call it while
// holding its own lock.
func (c *conversation) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if !c.busy {
		c.session.Close()
	}
}

func (c *conversation) requestContext() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return context.Background()
	}
	return c.ctx
}

func (c *conversation) setDecision(d vouchers.Decision, err error, at time.Time) {
	c.decisionMu.Lock()
	defer c.decisionMu.Unlock()
	c.decision, c.authErr, c.decidedAt = &d, err, at
}

// decided returns the decision and when it was made.
func (c *conversation) decided() (*vouchers.Decision, time.Time) {
	c.decisionMu.Lock()
	defer c.decisionMu.Unlock()
	return c.decision, c.decidedAt
}

// result returns the decision made at the handshake, if any.
func (c *conversation) result() (*vouchers.Decision, error) {
	c.decisionMu.Lock()
	defer c.decisionMu.Unlock()
	return c.decision, c.authErr
}

// stationKey names a device at a NAS. At most one conversation per device
// is in flight: a new start replaces the old, so a device flooding EAP
// starts holds one slot, not all of them.
type stationKey struct {
	nas     string
	station string // Calling-Station-Id
}

// conversations is the table of EAP conversations in flight, bounded in
// number (the stalest goes first) and in age.
type conversations struct {
	mu        sync.Mutex // makes replace-by-station atomic
	byState   *expirable.LRU[[16]byte, *conversation]
	byStation *expirable.LRU[stationKey, [16]byte]
	rand      io.Reader
}

func newConversations(size int, ttl time.Duration, rand io.Reader) *conversations {
	return &conversations{
		byState: expirable.NewLRU[[16]byte, *conversation](size,
			func(_ [16]byte, c *conversation) { c.close() }, ttl),
		byStation: expirable.NewLRU[stationKey, [16]byte](size, nil, ttl),
		rand:      rand,
	}
}

func (t *conversations) len() int { return t.byState.Len() }

// closeAll ends every conversation (the eviction callback closes each).
func (t *conversations) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byState.Purge()
	t.byStation.Purge()
}

// start registers a new conversation for a device, closing the device's
// previous one.
func (t *conversations) start(nas, station string, newSession func(*conversation) *eaptls.Session) (*conversation, error) {
	c := &conversation{nas: nas, station: stationKey{nas, station}, started: time.Now()}
	if _, err := io.ReadFull(t.rand, c.state[:]); err != nil {
		return nil, fmt.Errorf("radiusd: State: %w", err)
	}
	c.session = newSession(c)
	t.mu.Lock()
	defer t.mu.Unlock()
	if station != "" {
		if old, ok := t.byStation.Peek(c.station); ok {
			t.byState.Remove(old) // closes it
		}
		t.byStation.Add(c.station, c.state)
	}
	t.byState.Add(c.state, c)
	return c, nil
}

// find returns the conversation with State state begun by nas.
func (t *conversations) find(state []byte, nas string) (*conversation, bool) {
	if len(state) != 16 {
		return nil, false
	}
	c, ok := t.byState.Get([16]byte(state))
	if !ok || c.nas != nas {
		return nil, false
	}
	return c, true
}

// finish removes c from the table and closes it.
func (t *conversations) finish(c *conversation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.station.station != "" {
		if cur, ok := t.byStation.Peek(c.station); ok && cur == c.state {
			t.byStation.Remove(c.station)
		}
	}
	t.byState.Remove(c.state)
	c.close()
}

// serveEAP runs one step of an EAP conversation and answers with
// Access-Challenge, Access-Accept or Access-Reject.
func (s *Server) serveEAP(w responseWriter, r *request) error {
	in, err := joinEAPMessage(r.packet)
	if errors.Is(err, errNoEAP) {
		return s.reject(w, r, nil, outcome{reason: reasonNotEAP})
	}
	if err != nil {
		return drop(dropEAPMalformed, err)
	}
	station := rfc2865.CallingStationID_GetString(r.packet)

	var c *conversation
	if state := rfc2865.State_Get(r.packet); state == nil {
		c, err = s.conversations.start(r.nas.Name, station, s.newSession)
		if err != nil {
			return drop(dropInternal, err)
		}
	} else if c, _ = s.conversations.find(state, r.nas.Name); c == nil {
		return s.reject(w, r, failureFor(in), outcome{reason: reasonUnknownConversation})
	}
	ok, closed := c.acquire(r.ctx)
	switch {
	case closed:
		return s.reject(w, r, failureFor(in), outcome{reason: reasonUnknownConversation})
	case !ok:
		return drop(dropEAPBusy, nil)
	}
	out, res := c.step(in, int(rfc2865.FramedMTU_Get(r.packet)))

	switch res.Outcome {
	case eaptls.Continue:
		resp := r.packet.Response(radius.CodeAccessChallenge)
		addEAPMessage(resp, out)
		resp.Add(rfc2865.State_Type, radius.Attribute(c.state[:]))
		return s.respond(w, r, resp, 0)
	case eaptls.Success:
		s.conversations.finish(c)
		d, err := s.policy.current(r.ctx, c, res.PeerCertificates[0])
		if err != nil || !d.Allowed {
			return s.reject(w, r, failureFor(in), outcome{conv: c, result: res, decision: d, reason: d.Reason, err: err})
		}
		return s.accept(w, r, out, outcome{conv: c, result: res, decision: d, reason: d.Reason})
	default:
		s.conversations.finish(c)
		o := outcome{conv: c, result: res, reason: reasonTLSFailed}
		if d, authErr := c.result(); d != nil {
			o.decision, o.reason, o.err = *d, d.Reason, authErr
		}
		if o.err == nil {
			o.err = res.Err
		}
		if len(out) == 0 {
			out = failureFor(in)
		}
		return s.reject(w, r, out, o)
	}
}

// newSession starts the EAP-TLS session of conversation c.
func (s *Server) newSession(c *conversation) *eaptls.Session {
	return eaptls.NewSession(&eaptls.Config{
		TLS:            s.policy.configFor(c),
		Authorize:      func(cs tls.ConnectionState) error { return s.policy.admit(c, cs) },
		FragmentSize:   s.cfg.FragmentSize,
		MaxMessageSize: s.cfg.MaxMessageSize,
		MaxRounds:      s.cfg.MaxRounds,
	})
}

// failureFor returns an EAP-Failure answering the EAP packet in.
func failureFor(in []byte) []byte {
	var id uint8
	if len(in) > 1 {
		id = in[1]
	}
	b, _ := (&eaptls.Packet{Code: eaptls.CodeFailure, Identifier: id}).MarshalBinary()
	return b
}
