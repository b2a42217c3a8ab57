package radiusd

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

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

// stateLen is the length of the State that names a conversation.
const stateLen = 16

// defaultReassemblyBudget bounds the memory that the reassembly buffers of
// all EAP conversations hold together. A device's TLS flight is a few KiB
// (a certificate chain, a post-quantum ClientHello) and is held only until
// it is complete, so 32 MiB is thousands of devices sending at the same
// instant; without it, each of the Config.EAPSessions conversations could
// hold up to Config.MaxMessageSize (4096 x 64 KiB = 256 MiB). When it is
// used up, the fragment that needs more fails its conversation (an
// Access-Reject; the device tries again) instead of memory growing.
const defaultReassemblyBudget = 32 << 20

var errNoEAP = errors.New("no EAP-Message")

// joinEAPMessage concatenates the EAP-Message attributes of p (RFC 3579
// section 3.1) and checks that they hold exactly one EAP packet. EAP-Message
// attributes that are all empty are an EAP-Start (RFC 3579 section 2.1: the
// NAS asks the server to start the conversation); it is returned as an
// empty, non-nil slice.
func joinEAPMessage(p *radius.Packet) ([]byte, error) {
	var out []byte
	for _, a := range p.Attributes {
		if a.Type != rfc2869.EAPMessage_Type {
			continue
		}
		if len(out)+len(a.Attribute) > maxEAPMessage {
			return nil, fmt.Errorf("EAP-Message over %d bytes", maxEAPMessage)
		}
		if out == nil {
			out = make([]byte, 0, len(a.Attribute))
		}
		out = append(out, a.Attribute...)
	}
	switch {
	case out == nil:
		return nil, errNoEAP
	case len(out) == 0:
		return out, nil // EAP-Start
	case len(out) < 4:
		return nil, fmt.Errorf("EAP-Message of %d bytes is shorter than an EAP header", len(out))
	}
	if n := int(out[2])<<8 | int(out[3]); n != len(out) {
		return nil, fmt.Errorf("EAP length %d but %d bytes of EAP-Message", n, len(out))
	}
	return out, nil
}

// eapRoom is the largest EAP packet that an Access-Challenge answering req
// can carry within the 4096 bytes of a RADIUS packet: what is left after the
// header, Message-Authenticator, State and the Proxy-State attributes copied
// from req (RFC 2865 section 5.33), less the two octets of each EAP-Message
// attribute (at most 253 bytes of EAP each). The fragment size is lowered to
// fit it, so a request carrying large Proxy-States still gets an answer.
func eapRoom(req *radius.Packet) int {
	room := radius.MaxPacketLength - headerLen - (2 + msgAuthLen) - (2 + stateLen)
	for _, a := range req.Attributes {
		if a.Type == rfc2865.ProxyState_Type {
			room -= 2 + len(a.Attribute)
		}
	}
	if room <= 0 {
		return 0
	}
	// E bytes of EAP take E + 2*ceil(E/253) bytes of attributes; with
	// k = ceil(room/255), E = room - 2k satisfies that.
	return room - 2*((room+254)/255)
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
	state   [stateLen]byte
	nas     string
	station stationKey
	first   replyKey // the request that started it
	started time.Time
	session *eaptls.Session

	// Owned by the conversations table, under its lock.
	elem     *list.Element // in conversations.idle[tier]
	tier     tier
	deadline time.Time // forgotten when no round has come by then

	mu     sync.Mutex
	busy   bool
	closed bool
	ctx    context.Context // of the request being stepped; read by VerifyConnection

	decisionMu sync.Mutex
	decision   *vouchers.Decision
	decidedAt  time.Time
	authErr    error
	// Session tickets handed out in this conversation, held back from the
	// ticket store until the device is admitted (see tlsPolicy).
	tickets []heldTicket
	// evict names the stay's devices to disconnect when this one is
	// admitted over its policy's MaxOnline (see simultaneousUse).
	evict []int64
}

func (c *conversation) setEvictions(devices []int64) {
	c.decisionMu.Lock()
	defer c.decisionMu.Unlock()
	c.evict = devices
}

// evictions returns, once, the devices to disconnect on admission.
func (c *conversation) evictions() []int64 {
	c.decisionMu.Lock()
	defer c.decisionMu.Unlock()
	ev := c.evict
	c.evict = nil
	return ev
}

// evict disconnects, in the background, the stay's devices that make room
// for the device admitted by d.
func (s *Server) evict(ctx context.Context, d vouchers.Decision, devices []int64) {
	if len(devices) == 0 || s.deps.Evict == nil {
		return
	}
	for _, id := range devices {
		s.logger.Info("radiusd: too many devices online; disconnecting the stay's longest-online device",
			"stay", d.Stay.ID, "device", id, "admitted", d.Device.ID, "max_online", d.Policy.MaxOnline)
		s.deps.Evict(context.WithoutCancel(ctx), id, "over max_online")
	}
}

// holdTicket keeps a session ticket handed out in this conversation until
// the conversation ends.
func (c *conversation) holdTicket(t heldTicket) {
	c.decisionMu.Lock()
	defer c.decisionMu.Unlock()
	c.tickets = append(c.tickets, t)
}

// takeTickets returns the tickets held and forgets them.
func (c *conversation) takeTickets() []heldTicket {
	c.decisionMu.Lock()
	defer c.decisionMu.Unlock()
	t := c.tickets
	c.tickets = nil
	return t
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
func (c *conversation) step(in []byte, framedMTU int) ([]byte, eaptls.Result, tier) {
	defer c.release()
	out, res := c.session.Step(in, framedMTU)
	t := tierFresh
	if c.session.TLSStarted() {
		t = tierTLS
	}
	return out, res, t
}

// A tier is what a conversation has shown of its peer. When the table is
// full, a new conversation pushes out the fresh one idle longest, and one
// whose TLS handshake has begun only when no fresh one is left: a flood
// of conversations abandoned after a round or two (cheap to send) cannot
// push out a guest whose NAS is waiting to retransmit a lost request; to
// reach the TLS tier a sender must send whole ClientHellos and make the
// server do a handshake for each, which its CPU bounds. (A conversation
// forgotten right after its EAP-TLS Start is rebuilt from its State: see
// restart.)
type tier uint8

const (
	tierFresh tier = iota // no whole TLS message from the peer yet
	tierTLS               // the TLS handshake has begun
	tiers
)

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
// number (the one idle longest goes first) and in idle time: a conversation
// is forgotten when no round has come for timeout. The timeout is per
// round, not from the start, so a device that waits for its guest (a trust
// prompt on the first connection) is not cut off while it keeps answering;
// the total is still bounded, by eaptls's MaxRounds rounds of at most
// timeout each. It is safe for concurrent use.
type conversations struct {
	size    int
	timeout time.Duration
	now     func() time.Time // injected by tests; time.Now otherwise
	rand    io.Reader
	// stateKey authenticates the States the table makes (see newState).
	stateKey [32]byte
	// budget is the reassembly memory shared by every conversation's
	// session.
	budget *eaptls.Budget

	mu        sync.Mutex
	byState   map[[stateLen]byte]*conversation
	byStation map[stationKey]*conversation
	idle      [tiers]list.List // of *conversation, most recently active first, by tier
	sweeper   *time.Timer      // forgets idle conversations when no request comes
}

func newConversations(size int, timeout time.Duration, rand io.Reader) (*conversations, error) {
	if timeout <= 0 {
		timeout = 100 * 365 * 24 * time.Hour // no idle limit
	}
	t := &conversations{
		size:      max(size, 1),
		timeout:   timeout,
		now:       time.Now,
		rand:      rand,
		budget:    eaptls.NewBudget(defaultReassemblyBudget),
		byState:   map[[stateLen]byte]*conversation{},
		byStation: map[stationKey]*conversation{},
	}
	if _, err := io.ReadFull(rand, t.stateKey[:]); err != nil {
		return nil, fmt.Errorf("radiusd: State key: %w", err)
	}
	return t, nil
}

// A conversation's State is when it was made (4 bytes, Unix seconds), a
// nonce (4) and an HMAC-SHA256 of those, the NAS and the device (8), under
// the table's key: the table can recognise a State of its own after it
// has forgotten the conversation (see restart).
func (t *conversations) newState(nas, station string, now time.Time) ([stateLen]byte, error) {
	var st [stateLen]byte
	binary.BigEndian.PutUint32(st[0:4], uint32(now.Unix()))
	if _, err := io.ReadFull(t.rand, st[4:8]); err != nil {
		return st, fmt.Errorf("radiusd: State: %w", err)
	}
	copy(st[8:], t.stateMAC(nas, station, st[:8]))
	return st, nil
}

func (t *conversations) stateMAC(nas, station string, head []byte) []byte {
	m := hmac.New(sha256.New, t.stateKey[:])
	m.Write(head)
	m.Write([]byte(nas))
	m.Write([]byte{0})
	m.Write([]byte(station))
	return m.Sum(nil)[:stateLen-8]
}

// ownState reports whether state is one the table made for this NAS and
// device less than its timeout ago.
func (t *conversations) ownState(state []byte, nas, station string, now time.Time) bool {
	if len(state) != stateLen {
		return false
	}
	made := time.Unix(int64(binary.BigEndian.Uint32(state[0:4])), 0)
	if now.Sub(made) >= t.timeout || made.Sub(now) > time.Minute {
		return false
	}
	return hmac.Equal(state[8:], t.stateMAC(nas, station, state[:8]))
}

func (t *conversations) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(t.now())
	return len(t.byState)
}

// closeAll ends every conversation.
func (t *conversations) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.byState {
		c.close()
	}
	clear(t.byState)
	clear(t.byStation)
	for i := range t.idle {
		t.idle[i].Init()
	}
	if t.sweeper != nil {
		t.sweeper.Stop()
		t.sweeper = nil
	}
}

// start registers a new conversation for a device, closing the device's
// previous one. first names the request that starts it: a retransmission
// of that request (the reply cache has let its Access-Challenge go) finds
// the same conversation, which answers it again, rather than a new one
// that would replace it.
func (t *conversations) start(nas, station string, first replyKey, newSession func(*conversation) *eaptls.Session) (*conversation, error) {
	if station != "" {
		t.mu.Lock()
		now := t.now()
		t.expireLocked(now)
		if old, ok := t.byStation[stationKey{nas, station}]; ok && old.first == first {
			t.touchLocked(old, now)
			t.mu.Unlock()
			return old, nil
		}
		t.mu.Unlock()
	}
	c := &conversation{nas: nas, station: stationKey{nas, station}, first: first, started: time.Now()}
	var err error
	if c.state, err = t.newState(nas, station, t.now()); err != nil {
		return nil, err
	}
	c.session = newSession(c)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.insertLocked(c, t.now())
	return c, nil
}

// restart brings back a conversation forgotten right after its EAP-TLS
// Start (the table made room for newer ones while the device's NAS waited
// to retransmit its ClientHello): state must be one the table made for
// this NAS and device within its timeout, the device must not have begun
// another conversation since, and in must be an EAP-TLS Response, the
// device's first TLS data. Only that point can be rebuilt: the server held
// nothing then but the Start's Identifier, which the Response carries. It
// returns nil otherwise.
func (t *conversations) restart(state []byte, nas, station string, first replyKey, in []byte,
	newSession func(c *conversation, startID uint8) *eaptls.Session) *conversation {
	if len(in) < 6 || eaptls.Code(in[0]) != eaptls.CodeResponse || eaptls.Type(in[4]) != eaptls.TypeTLS {
		return nil
	}
	t.mu.Lock()
	now := t.now()
	ok := t.ownState(state, nas, station, now)
	if cur, found := t.byStation[stationKey{nas, station}]; found && station != "" && cur.state != [stateLen]byte(state) {
		ok = false // the device has begun another conversation since
	}
	t.mu.Unlock()
	if !ok {
		return nil
	}
	c := &conversation{state: [stateLen]byte(state), nas: nas, station: stationKey{nas, station}, first: first, started: time.Now()}
	c.session = newSession(c, in[1])
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, dup := t.byState[c.state]; dup { // rebuilt meanwhile by another worker
		c.close()
		return cur
	}
	t.insertLocked(c, t.now())
	return c
}

// insertLocked puts c in the table, making room for it.
func (t *conversations) insertLocked(c *conversation, now time.Time) {
	t.expireLocked(now)
	if station := c.station.station; station != "" {
		if old, ok := t.byStation[c.station]; ok {
			t.removeLocked(old)
		}
		t.byStation[c.station] = c
	}
	for len(t.byState) >= t.size {
		victims := &t.idle[tierFresh]
		if victims.Len() == 0 {
			victims = &t.idle[tierTLS]
		}
		t.removeLocked(victims.Back().Value.(*conversation)) // the one idle longest
	}
	t.byState[c.state] = c
	c.tier = tierFresh
	c.elem = t.idle[tierFresh].PushFront(c)
	c.deadline = now.Add(t.timeout)
	t.armLocked()
}

// find returns the conversation with State state begun by nas, and counts
// the request as a round: the conversation's idle deadline starts again.
func (t *conversations) find(state []byte, nas string) (*conversation, bool) {
	if len(state) != stateLen {
		return nil, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.expireLocked(now)
	c, ok := t.byState[[stateLen]byte(state)]
	if !ok || c.nas != nas {
		return nil, false
	}
	t.touchLocked(c, now)
	return c, true
}

// touch starts c's idle deadline again (after a round that took long) and
// moves it up to tier tr when it has reached it.
func (t *conversations) touch(c *conversation, tr tier) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byState[c.state] != c {
		return
	}
	if tr > c.tier {
		t.idle[c.tier].Remove(c.elem)
		c.tier = tr
		c.elem = t.idle[tr].PushFront(c)
	}
	t.touchLocked(c, t.now())
}

func (t *conversations) touchLocked(c *conversation, now time.Time) {
	c.deadline = now.Add(t.timeout)
	t.idle[c.tier].MoveToFront(c.elem)
}

// finish removes c from the table and closes it.
func (t *conversations) finish(c *conversation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byState[c.state] == c {
		t.removeLocked(c)
	}
	c.close()
}

// removeLocked takes c out of the table and closes it.
func (t *conversations) removeLocked(c *conversation) {
	delete(t.byState, c.state)
	if cur, ok := t.byStation[c.station]; ok && cur == c {
		delete(t.byStation, c.station)
	}
	t.idle[c.tier].Remove(c.elem)
	c.close()
}

// expireLocked forgets the conversations whose deadline has passed; the
// list is in order of activity, so they are at its back.
func (t *conversations) expireLocked(now time.Time) {
	for i := range t.idle {
		l := &t.idle[i]
		for e := l.Back(); e != nil; e = l.Back() {
			c := e.Value.(*conversation)
			if now.Before(c.deadline) {
				break
			}
			t.removeLocked(c)
		}
	}
}

// armLocked makes sure idle conversations are forgotten even when no
// request comes to do it: a timer sweeps the table once a timeout while it
// holds any. (A timer holds no goroutine while it waits.)
func (t *conversations) armLocked() {
	if t.sweeper != nil || len(t.byState) == 0 {
		return
	}
	t.sweeper = time.AfterFunc(t.timeout, t.sweep)
}

func (t *conversations) sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweeper = nil
	t.expireLocked(t.now())
	t.armLocked()
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
		first := replyKey{remote: r.remote, identifier: r.packet.Identifier, authenticator: r.packet.Authenticator}
		c, err = s.conversations.start(r.nas.Name, station, first, s.newSession)
		if err != nil {
			return drop(dropInternal, err)
		}
	} else if c, _ = s.conversations.find(state, r.nas.Name); c == nil {
		first := replyKey{remote: r.remote, identifier: r.packet.Identifier, authenticator: r.packet.Authenticator}
		identity := rfc2865.UserName_GetString(r.packet)
		c = s.conversations.restart(state, r.nas.Name, station, first, in, func(c *conversation, id uint8) *eaptls.Session {
			return eaptls.NewSessionAtStart(s.sessionConfig(c), identity, id)
		})
		if c == nil {
			return s.reject(w, r, failureFor(in), outcome{reason: reasonUnknownConversation})
		}
		s.logger.Debug("radiusd: EAP conversation rebuilt from its State after the table had let it go",
			"nas", r.nas.Name, "calling_station", station)
	}
	ok, closed := c.acquire(r.ctx)
	switch {
	case closed:
		return s.reject(w, r, failureFor(in), outcome{reason: reasonUnknownConversation})
	case !ok:
		return drop(dropEAPBusy, nil)
	}
	// The EAP packet must fit the Access-Challenge along with the
	// attributes copied from the request, whatever the Framed-MTU.
	mtu := eapRoom(r.packet)
	if framed := int(rfc2865.FramedMTU_Get(r.packet)); framed > 0 && framed < mtu {
		mtu = framed
	}
	out, res, tr := c.step(in, mtu)

	switch res.Outcome {
	case eaptls.Continue:
		s.conversations.touch(c, tr)
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
		// Only now may the session tickets of this handshake resume.
		s.policy.commitTickets(c)
		s.evict(r.ctx, d, c.evictions())
		return s.accept(w, r, out, outcome{conv: c, result: res, decision: d, reason: d.Reason})
	default:
		s.conversations.finish(c)
		o := outcome{conv: c, result: res, reason: reasonTLSFailed}
		if errors.Is(res.Err, eaptls.ErrBudgetExhausted) {
			o.reason = reasonServerBusy
		}
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
	return eaptls.NewSession(s.sessionConfig(c))
}

// sessionConfig is the EAP-TLS configuration of conversation c.
func (s *Server) sessionConfig(c *conversation) *eaptls.Config {
	return &eaptls.Config{
		TLS:            s.policy.configFor(c),
		Authorize:      func(cs tls.ConnectionState) error { return s.policy.admit(c, cs) },
		FragmentSize:   s.cfg.FragmentSize,
		MaxMessageSize: s.cfg.MaxMessageSize,
		MaxRounds:      s.cfg.MaxRounds,
		Budget:         s.conversations.budget,
	}
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
