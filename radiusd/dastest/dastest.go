package dastest

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
)

// Attribute types this package reads or writes itself.
const (
	typeMessageAuthenticator radius.Type = 80
	typeEventTimestamp       radius.Type = 55
	typeErrorCause           radius.Type = 101
)

// An AnswerFunc says how to answer an authentic request: the code
// (Disconnect-ACK, CoA-NAK, ...) and the attributes to send besides
// Message-Authenticator and Event-Timestamp, which the responder adds. Code
// 0 sends nothing, like an access point that ignores the request.
type AnswerFunc func(req *radius.Packet) (radius.Code, []*radius.AVP)

// Ack answers every request with its ACK (Disconnect-ACK, CoA-ACK).
func Ack(req *radius.Packet) (radius.Code, []*radius.AVP) { return req.Code + 1, nil }

// NAK returns an AnswerFunc that answers every request with its NAK and
// Error-Cause cause (503 is Session-Context-Not-Found).
func NAK(cause uint32) AnswerFunc {
	return func(req *radius.Packet) (radius.Code, []*radius.AVP) {
		return req.Code + 2, []*radius.AVP{ErrorCause(cause)}
	}
}

// Silent never answers.
func Silent(*radius.Packet) (radius.Code, []*radius.AVP) { return 0, nil }

// ErrorCause is an Error-Cause attribute (RFC 5176 section 3.5).
func ErrorCause(cause uint32) *radius.AVP {
	return &radius.AVP{Type: typeErrorCause, Attribute: binary.BigEndian.AppendUint32(nil, cause)}
}

// A Request is an authentic request the responder received.
type Request struct {
	Packet   *radius.Packet // parsed; Secret is the responder's
	Raw      []byte         // as received, trimmed to its Length
	From     netip.AddrPort
	Received time.Time
}

// A Responder is a Dynamic Authorization Server on loopback UDP.
type Responder struct {
	conn   *net.UDPConn
	secret []byte
	answer AnswerFunc
	done   chan struct{}

	mu       sync.Mutex
	requests []Request
	rejected int
	tamper   func(req *radius.Packet, reply []byte) [][]byte
	arrived  chan struct{} // closed and replaced on every recorded request
}

// New starts a responder on 127.0.0.1 that checks requests with secret and
// answers them with answer (Ack when nil). It stops when the test ends.
func New(t testing.TB, secret []byte, answer AnswerFunc) *Responder {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("dastest: listen: %v", err)
	}
	conn.SetReadBuffer(4 << 20) // a burst of 1,000 requests must not be dropped here
	conn.SetWriteBuffer(4 << 20)
	if answer == nil {
		answer = Ack
	}
	r := &Responder{conn: conn, secret: slices.Clone(secret), answer: answer, done: make(chan struct{}), arrived: make(chan struct{})}
	go r.serve()
	t.Cleanup(r.Close)
	return r
}

// Addr is where the responder listens.
func (r *Responder) Addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Port is the port the responder listens on.
func (r *Responder) Port() int { return int(r.Addr().Port()) }

// Requests returns the authentic requests received so far, in order.
func (r *Responder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// Rejected is how many requests were dropped for a wrong Request
// Authenticator, a missing or wrong Message-Authenticator, or a malformed
// packet.
func (r *Responder) Rejected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

// WaitRequests waits up to timeout until n authentic requests arrived and
// returns all received; fewer when the time ran out.
func (r *Responder) WaitRequests(n int, timeout time.Duration) []Request {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		if len(r.requests) >= n {
			defer r.mu.Unlock()
			return slices.Clone(r.requests)
		}
		arrived := r.arrived
		r.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline.C:
			return r.Requests()
		}
	}
}

// SetTamper makes f decide what is sent for each answer: f gets the request
// and the correctly signed reply and returns the datagrams to send instead,
// in order (none to drop the answer; a forgery before the reply; the reply
// twice). Nil restores plain answers.
func (r *Responder) SetTamper(f func(req *radius.Packet, reply []byte) [][]byte) {
	r.mu.Lock()
	r.tamper = f
	r.mu.Unlock()
}

// Close stops the responder.
func (r *Responder) Close() {
	select {
	case <-r.done:
		return
	default:
	}
	close(r.done)
	r.conn.Close()
}

func (r *Responder) serve() {
	buf := make([]byte, radius.MaxPacketLength+1)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-r.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		r.handle(slices.Clone(buf[:n]), from)
	}
}

func (r *Responder) handle(b []byte, from netip.AddrPort) {
	b, err := VerifyRequest(b, r.secret)
	var req *radius.Packet
	if err == nil {
		req, err = radius.Parse(b, r.secret)
	}
	r.mu.Lock()
	if err != nil {
		r.rejected++
		r.mu.Unlock()
		return
	}
	r.requests = append(r.requests, Request{Packet: req, Raw: b, From: from, Received: time.Now()})
	close(r.arrived)
	r.arrived = make(chan struct{})
	tamper := r.tamper
	r.mu.Unlock()

	code, attrs := r.answer(req)
	if code == 0 {
		return
	}
	reply, err := Reply(code, req, attrs, r.secret)
	if err != nil {
		return
	}
	out := [][]byte{reply}
	if tamper != nil {
		out = tamper(req, reply)
	}
	for _, d := range out {
		r.conn.WriteToUDPAddrPort(d, from)
	}
}

// VerifyRequest checks a Disconnect-Request or CoA-Request b as hostapd's
// DAS does with Message-Authenticator required, and returns b trimmed to
// its Length.
func VerifyRequest(b, secret []byte) ([]byte, error) {
	if len(b) < 20 {
		return nil, fmt.Errorf("dastest: %d bytes is shorter than a RADIUS header", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 20 || n > len(b) || n > radius.MaxPacketLength {
		return nil, fmt.Errorf("dastest: bad Length %d", n)
	}
	b = b[:n]
	if code := radius.Code(b[0]); code != radius.CodeDisconnectRequest && code != radius.CodeCoARequest {
		return nil, fmt.Errorf("dastest: code %d is not Disconnect-Request or CoA-Request", b[0])
	}
	var zero [16]byte
	h := md5.New()
	h.Write(b[:4])
	h.Write(zero[:])
	h.Write(b[20:])
	h.Write(secret)
	if !hmac.Equal(h.Sum(nil), b[4:20]) {
		return nil, errors.New("dastest: wrong Request Authenticator")
	}
	at := -1
	for i := 20; i < len(b); {
		if i+2 > len(b) || b[i+1] < 2 || i+int(b[i+1]) > len(b) {
			return nil, fmt.Errorf("dastest: attribute at offset %d overruns the packet", i)
		}
		if radius.Type(b[i]) == typeMessageAuthenticator {
			if at >= 0 {
				return nil, errors.New("dastest: two Message-Authenticators")
			}
			if b[i+1] != 18 {
				return nil, errors.New("dastest: Message-Authenticator is not 16 octets")
			}
			at = i + 2
		}
		i += int(b[i+1])
	}
	if at < 0 {
		return nil, errors.New("dastest: no Message-Authenticator")
	}
	c := slices.Clone(b)
	clear(c[4:20])
	clear(c[at : at+16])
	mac := hmac.New(md5.New, secret)
	mac.Write(c)
	if !hmac.Equal(mac.Sum(nil), b[at:at+16]) {
		return nil, errors.New("dastest: wrong Message-Authenticator")
	}
	return b, nil
}

// Reply encodes an answer to req as hostapd does: Message-Authenticator
// first, then attrs and Event-Timestamp; the Message-Authenticator over
// the answer with the Request Authenticator in its Authenticator field,
// then the Response Authenticator
// MD5(Code+Identifier+Length+RequestAuthenticator+Attributes+Secret).
func Reply(code radius.Code, req *radius.Packet, attrs []*radius.AVP, secret []byte) ([]byte, error) {
	p := &radius.Packet{Code: code, Identifier: req.Identifier, Authenticator: req.Authenticator}
	p.Add(typeMessageAuthenticator, make(radius.Attribute, 16))
	for _, a := range attrs {
		if a.Type != typeMessageAuthenticator {
			p.Attributes = append(p.Attributes, a)
		}
	}
	p.Add(typeEventTimestamp, binary.BigEndian.AppendUint32(nil, uint32(time.Now().Unix())))
	b, err := p.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("dastest: %w", err)
	}
	mac := hmac.New(md5.New, secret)
	mac.Write(b)
	copy(b[22:38], mac.Sum(nil))
	h := md5.New()
	h.Write(b)
	h.Write(secret)
	copy(b[4:20], h.Sum(nil))
	return b, nil
}
