package eaptls

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"

	"keycard/eaptls/internal/handshake"
)

// Errors a caller may branch on or count. Errors from TLS (alerts, a
// certificate refused by VerifyConnection) are wrapped, so errors.Is and
// errors.As reach the caller's own policy error.
var (
	// ErrMethodRefused: the peer answered EAP-TLS with a Nak or another
	// method; it wants something other than EAP-TLS.
	ErrMethodRefused = errors.New("eaptls: peer wants another EAP method than EAP-TLS")
	// ErrNoExtendedMasterSecret: a TLS 1.2 peer did not negotiate Extended
	// Master Secret (RFC 7627), without which Go does not export keys.
	ErrNoExtendedMasterSecret = handshake.ErrNoExtendedMasterSecret
	// ErrClosed: Step was called after Close.
	ErrClosed = errors.New("eaptls: session closed")
)

type state uint8

const (
	stateIdentity  state = iota // awaiting the Response/Identity (asked for or not)
	stateStart                  // Start sent, awaiting the first TLS data
	stateReceiving              // awaiting (more of) the peer's TLS message
	stateSending                // sending a flight: awaiting the ack of a fragment
	stateFinalAck               // final flight sent: an ack means Success
	stateAlertAck               // TLS alert sent: whatever comes means Failure
	stateDone                   // Success or Failure sent
	stateClosed
)

// Session is one EAP-TLS conversation on the server side. It is not safe
// for concurrent use; Close frees it. See the package documentation for its
// lifecycle.
type Session struct {
	cfg      *Config
	state    state
	after    state // the state once the flight being sent is out
	id       uint8 // Identifier of the outstanding Request
	rounds   int
	identity string
	asked    bool   // a Request/Identity went out (the NAS sent EAP-Start)
	last     []byte // the outstanding Request, or the final Success/Failure
	result   Result // the final result, filled in as the handshake ends
	err      error  // the handshake error whose alert is being sent

	// TLS state, allocated when the first complete TLS message arrives.
	reasm  Reassembler
	frag   Fragmenter
	flight []byte // TLS output being sent, handed back to the pipe for reuse
	pipe   *handshake.Pipe
	// tlsStarted: the peer's first TLS message arrived whole and
	// crypto/tls answered it.
	tlsStarted bool
	cleanup    runtime.Cleanup

	// Set once the reassembler holds memory of cfg.Budget: a session
	// dropped without Close still gives it back.
	leaseCleanup runtime.Cleanup
	leaseGuarded bool
}

// NewSession starts a conversation that will use cfg, which must outlive
// it. The session holds no TLS state until the peer's first TLS message
// is complete.
func NewSession(cfg *Config) *Session {
	s := &Session{cfg: cfg}
	// Until the handshake has started, the peer can only be sending a
	// ClientHello, which is a few KiB even with a post-quantum key share.
	// A tighter cap on it bounds what a flood of conversations from
	// spoofed addresses can make the server hold before any TLS work.
	s.reasm.MaxMessageSize = min(maxClientHelloSize, cfg.maxMessageSize())
	s.reasm.Budget = cfg.Budget
	return s
}

// NewSessionAtStart returns a session as it stands once the EAP-TLS Start
// with Identifier id has gone to a peer that gave identity: for a caller
// that forgot the session then (to make room for others) and has proof
// that it sent that Start (its own State came back with the peer's
// answer). The next Step takes the peer's first TLS data.
func NewSessionAtStart(cfg *Config, identity string, id uint8) *Session {
	s := NewSession(cfg)
	s.identity, s.rounds, s.id = identity, 1, id-1
	s.request(TLSPayload{Flags: FlagStart}, stateStart)
	return s
}

// maxClientHelloSize caps the peer's first TLS message.
const maxClientHelloSize = 16 << 10

// TLSStarted reports whether the peer's first TLS message (its ClientHello)
// arrived whole and the TLS handshake has begun: a peer that got this far
// has answered the server's rounds and made it do TLS work, which a flood
// of abandoned conversations does not.
func (s *Session) TLSStarted() bool { return s.tlsStarted }

// Identity returns the identity from the peer's EAP-Response/Identity ("" before it).
// It is unauthenticated: the certificate, not this, says who the peer is.
func (s *Session) Identity() string { return s.identity }

// Step consumes one EAP packet from the peer (the EAP-Message attributes
// joined) and returns the EAP packet to send back (a Request, Success or
// Failure) and the result so far. An empty in before the peer's identity
// is an EAP-Start from the NAS (RFC 3579 section 2.1): it is answered with
// an EAP-Request/Identity. framedMTU is the largest EAP packet to send (0 =
// unknown): the Framed-MTU of the request, which the caller lowers when its
// own answer has less room (RADIUS attributes it must echo). The returned
// packet is not modified later; the caller may keep it. After Success or
// Failure, Step returns the same final packet and result again.
func (s *Session) Step(in []byte, framedMTU int) (out []byte, res Result) {
	switch s.state {
	case stateDone:
		return s.last, s.result
	case stateClosed:
		return []byte{byte(CodeFailure), s.id, 0, headerLen}, Result{Outcome: Failure, Err: ErrClosed, Rounds: s.rounds}
	}
	s.rounds++
	out, err := s.step(in, framedMTU)
	if err != nil {
		return s.fail(err), s.result
	}
	if s.state == stateDone {
		return out, s.result
	}
	return out, Result{Outcome: Continue, Rounds: s.rounds}
}

// Close stops the TLS goroutine, if any, and frees the session's buffers.
// The session answers any later Step with EAP-Failure.
func (s *Session) Close() {
	s.release()
	s.leaseCleanup.Stop()
	s.state = stateClosed
	s.last, s.err = nil, nil
	s.result = Result{}
}

func (s *Session) step(in []byte, framedMTU int) ([]byte, error) {
	if len(in) == 0 && s.state == stateIdentity {
		if s.rounds > s.cfg.maxRounds() {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyRounds, s.cfg.maxRounds())
		}
		return s.requestIdentity(), nil
	}
	code, id, typ, data, err := parsePacket(in)
	if err != nil {
		if s.state == stateIdentity && !s.asked && len(in) >= 2 {
			s.id = in[1]
		}
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("eaptls: truncated EAP packet: %w", err)
		}
		return nil, err
	}
	if s.state == stateIdentity && !s.asked {
		s.id = id // the NAS asked for the identity: answer its Identifier
	}
	if s.rounds > s.cfg.maxRounds() {
		return nil, fmt.Errorf("%w: more than %d", ErrTooManyRounds, s.cfg.maxRounds())
	}
	if code != CodeResponse {
		return nil, fmt.Errorf("eaptls: peer sent EAP-%s, want a Response", code)
	}
	if id != s.id {
		// A duplicate or stale Response: repeat the outstanding Request.
		return s.last, nil
	}
	if s.state == stateIdentity {
		return s.readIdentity(typ, data)
	}
	if s.state == stateAlertAck {
		// RFC 9190 section 2.1.3: whatever the peer answers to our
		// alert, the conversation ends in failure.
		return nil, s.err
	}
	switch typ {
	case TypeTLS:
	case TypeNak:
		return nil, fmt.Errorf("%w (Nak proposes %v)", ErrMethodRefused, nakTypes(data))
	default:
		return nil, fmt.Errorf("%w (it sent EAP-Response/%s)", ErrMethodRefused, typ)
	}
	p, err := ParseTLSPayload(data)
	if err != nil {
		return nil, fmt.Errorf("eaptls: EAP-TLS payload: %w", err)
	}
	switch s.state {
	case stateStart, stateReceiving:
		return s.readMessage(p, framedMTU)
	case stateSending:
		if !p.IsAck() {
			return nil, errors.New("eaptls: peer sent TLS data instead of acknowledging a fragment")
		}
		return s.nextFragment(framedMTU), nil
	case stateFinalAck:
		if !p.IsAck() {
			return nil, fmt.Errorf("eaptls: peer answered the final flight with %s instead of an acknowledgement", describeTLS(p.Data))
		}
		return s.succeed(), nil
	}
	return nil, fmt.Errorf("eaptls: internal error: state %d", s.state)
}

// requestIdentity answers an EAP-Start with an EAP-Request/Identity, or
// repeats it: the peer's Response/Identity must then carry its Identifier.
func (s *Session) requestIdentity() []byte {
	if s.asked {
		return s.last
	}
	s.asked = true
	s.id++
	s.last = []byte{byte(CodeRequest), s.id, 0, typeHeaderLen, byte(TypeIdentity)}
	return s.last
}

// readIdentity answers the Response/Identity with an EAP-TLS Start.
func (s *Session) readIdentity(typ Type, data []byte) ([]byte, error) {
	if typ != TypeIdentity {
		return nil, fmt.Errorf("eaptls: conversation starts with EAP-Response/%s, want Identity", typ)
	}
	s.identity = string(data)
	return s.request(TLSPayload{Flags: FlagStart}, stateStart), nil
}

// readMessage collects the peer's fragments and hands a complete TLS
// message to the handshake.
func (s *Session) readMessage(p TLSPayload, framedMTU int) ([]byte, error) {
	if p.IsAck() {
		return nil, errors.New("eaptls: peer sent an acknowledgement, want TLS data")
	}
	msg, done, err := s.reasm.Add(p)
	if l := s.reasm.lease; l != nil && !s.leaseGuarded {
		// The cleanup refers to the lease, not to s.
		s.leaseCleanup = runtime.AddCleanup(s, (*lease).release, l)
		s.leaseGuarded = true
	}
	if err != nil {
		return nil, err
	}
	if !done {
		return s.request(TLSPayload{}, s.state), nil // ack the fragment
	}
	s.reasm.MaxMessageSize = s.cfg.maxMessageSize() // past the ClientHello
	return s.handshake(msg, framedMTU)
}

// handshake feeds a complete TLS message to crypto/tls and sends back its
// answer: the next flight, the final flight, or the alert.
func (s *Session) handshake(msg []byte, framedMTU int) ([]byte, error) {
	var f handshake.Flight
	if s.pipe == nil {
		if s.cfg.TLS == nil {
			return nil, errors.New("eaptls: no TLS configuration")
		}
		tlsConfig := s.cfg.TLS
		// The finishing step must not refer to s: the TLS goroutine would
		// keep a session dropped without Close reachable forever.
		authorize := s.cfg.Authorize
		finish := func(c *tls.Conn) ([]byte, error) { return serverFinish(c, authorize) }
		s.tlsStarted = true
		s.pipe, f = handshake.Start(func(c net.Conn) *tls.Conn { return tls.Server(c, tlsConfig) }, msg, finish)
		if !f.Done {
			// A session dropped without Close must not leave its
			// goroutine blocked forever.
			s.cleanup = runtime.AddCleanup(s, (*handshake.Pipe).Close, s.pipe)
		}
	} else {
		spare := s.flight
		s.flight = nil
		f = s.pipe.Feed(msg, spare)
	}
	s.flight = f.Out
	if !f.Done {
		if len(f.Out) == 0 {
			// TLS wants more than the peer sent: ask for it.
			return s.request(TLSPayload{}, stateReceiving), nil
		}
		return s.sendFlight(stateReceiving, framedMTU), nil
	}
	s.stopPipe()
	s.result.PeerCertificates = f.State.PeerCertificates
	s.result.Version = f.State.Version
	s.result.Resumed = f.State.DidResume
	if f.Err != nil {
		err := fmt.Errorf("eaptls: TLS handshake: %w", f.Err)
		if f.State.HandshakeComplete || len(f.Out) == 0 {
			return nil, err
		}
		s.err = err
		return s.sendFlight(stateAlertAck, framedMTU), nil
	}
	s.result.MSK = f.Keys[0:64:64]
	s.result.EMSK = f.Keys[64:128:128]
	if len(f.Out) == 0 {
		// TLS 1.2 resumption: the peer's Finished was the last word.
		return s.succeed(), nil
	}
	return s.sendFlight(stateFinalAck, framedMTU), nil
}

// serverFinish runs after a successful handshake, in the TLS goroutine:
// it asks the caller's policy, exports the keys and, for TLS 1.3, writes
// the commitment message (RFC 9190 section 2.5), which goes out with the
// final flight.
func serverFinish(c *tls.Conn, authorize func(tls.ConnectionState) error) ([]byte, error) {
	st := c.ConnectionState()
	if authorize != nil {
		if err := authorize(st); err != nil {
			return nil, err
		}
	}
	keys, err := handshake.Keys(st)
	if err != nil {
		return nil, err
	}
	if st.Version == tls.VersionTLS13 {
		if _, err := c.Write([]byte{0}); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func (s *Session) sendFlight(after state, framedMTU int) []byte {
	s.frag.Reset(s.flight)
	s.after = after
	return s.nextFragment(framedMTU)
}

func (s *Session) nextFragment(framedMTU int) []byte {
	p := s.frag.Next(s.cfg.fragmentSize(framedMTU))
	next := stateSending
	if !s.frag.Pending() {
		next = s.after
	}
	return s.request(p, next)
}

// request builds the next EAP-TLS Request, with a new Identifier, and makes
// it the outstanding one.
func (s *Session) request(p TLSPayload, next state) []byte {
	s.id++
	b := make([]byte, typeHeaderLen, typeHeaderLen+1+4+len(p.Data))
	b[0], b[1], b[4] = byte(CodeRequest), s.id, byte(TypeTLS)
	b = p.Append(b)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	s.last, s.state = b, next
	return b
}

func (s *Session) succeed() []byte {
	s.release()
	s.result.Outcome = Success
	s.result.Rounds = s.rounds
	s.last = []byte{byte(CodeSuccess), s.id, 0, headerLen}
	s.state = stateDone
	return s.last
}

func (s *Session) fail(err error) []byte {
	s.release()
	s.result.Outcome = Failure
	s.result.MSK, s.result.EMSK = nil, nil
	s.result.Err = err
	s.result.Rounds = s.rounds
	s.last = []byte{byte(CodeFailure), s.id, 0, headerLen}
	s.state = stateDone
	s.err = nil
	return s.last
}

// release drops the TLS state: the goroutine and the buffers.
func (s *Session) release() {
	s.stopPipe()
	s.reasm.Release()
	s.frag.Reset(nil)
	s.flight = nil
}

func (s *Session) stopPipe() {
	if s.pipe != nil {
		s.cleanup.Stop()
		s.cleanup = runtime.Cleanup{}
		s.pipe.Close()
		s.pipe = nil
	}
}

// nakTypes lists the methods a Nak proposes.
func nakTypes(data []byte) []Type {
	ts := make([]Type, 0, min(len(data), 8))
	for _, b := range data[:min(len(data), 8)] {
		ts = append(ts, Type(b))
	}
	return ts
}

// describeTLS names what a peer sent, for an error message: a plaintext
// alert is decoded, anything else is summarised.
func describeTLS(b []byte) string {
	const recordAlert = 21
	if len(b) == 7 && b[0] == recordAlert {
		return fmt.Sprintf("TLS alert %d (level %d)", b[6], b[5])
	}
	return fmt.Sprintf("%d bytes of TLS data", len(b))
}
