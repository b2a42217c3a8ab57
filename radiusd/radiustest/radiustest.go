package radiustest

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2869"

	"keycard/radiusd"
	"keycard/vouchers"
)

// NASList is a fixed set of NAS clients; it implements radiusd.NASLookup
// with the most specific network winning.
type NASList []radiusd.NAS

// Lookup returns the NAS whose network holds ip, the most specific first.
func (l NASList) Lookup(ip netip.Addr) (radiusd.NAS, bool) {
	ip = ip.Unmap()
	best, found := radiusd.NAS{}, false
	for _, n := range l {
		if n.Network.Contains(ip) && (!found || n.Network.Bits() > best.Network.Bits()) {
			best, found = n, true
		}
	}
	return best, found
}

// Authorizer is a fake radiusd.Authorizer: Decide says what to answer (an
// allowed decision with an hour left when nil); it records every call.
type Authorizer struct {
	Decide func(cert *x509.Certificate, now time.Time) (vouchers.Decision, error)

	mu    sync.Mutex
	calls []*x509.Certificate
}

// Authorize implements radiusd.Authorizer.
func (a *Authorizer) Authorize(_ context.Context, cert *x509.Certificate, now time.Time) (vouchers.Decision, error) {
	a.mu.Lock()
	a.calls = append(a.calls, cert)
	decide := a.Decide
	a.mu.Unlock()
	if decide == nil {
		return vouchers.Decision{Allowed: true, Reason: vouchers.ReasonOK, Remaining: time.Hour}, nil
	}
	return decide(cert, now)
}

// SetDecide replaces Decide while the server may be calling Authorize.
func (a *Authorizer) SetDecide(decide func(cert *x509.Certificate, now time.Time) (vouchers.Decision, error)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Decide = decide
}

// Calls returns how many times Authorize was called.
func (a *Authorizer) Calls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

// AuditEntry is one call to Auditor.Audit.
type AuditEntry struct {
	By                      vouchers.Actor
	Action, Subject, Detail string
}

// Auditor is a fake radiusd.Auditor that records its entries; Err, when
// set, is returned instead.
type Auditor struct {
	Err error

	mu      sync.Mutex
	entries []AuditEntry
}

// AuditTx implements radiusd.Auditor; it records in memory, outside tx.
func (a *Auditor) AuditTx(_ context.Context, _ *sql.Tx, by vouchers.Actor, action, subject, detail string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Err != nil {
		return a.Err
	}
	a.entries = append(a.entries, AuditEntry{by, action, subject, detail})
	return nil
}

// Entries returns what was audited so far.
func (a *Auditor) Entries() []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AuditEntry(nil), a.entries...)
}

// Sign encodes the request p (Access-Request or Status-Server) with a
// Message-Authenticator computed with p.Secret, as a NAS does. A
// Message-Authenticator attribute already in p is replaced.
func Sign(p *radius.Packet) ([]byte, error) {
	q := *p
	q.Attributes = append(radius.Attributes(nil), p.Attributes...)
	rfc2869.MessageAuthenticator_Del(&q)
	q.Attributes = append(radius.Attributes{{Type: rfc2869.MessageAuthenticator_Type, Attribute: make(radius.Attribute, 16)}}, q.Attributes...)
	b, err := q.Encode()
	if err != nil {
		return nil, err
	}
	mac := hmac.New(md5.New, p.Secret)
	mac.Write(b)
	copy(b[22:38], mac.Sum(nil))
	return b, nil
}

// ErrNoAnswer is returned by Client.Exchange when the server stayed silent
// until the read deadline.
var ErrNoAnswer = errors.New("radiustest: no answer")

// Client is a NAS: it sends requests from one UDP socket and reads the
// answers.
type Client struct {
	Conn    *net.UDPConn
	Server  netip.AddrPort
	Timeout time.Duration // how long Exchange waits for an answer; default 2s
}

// Dial opens a client socket on 127.0.0.1 towards server.
func Dial(server netip.AddrPort) (*Client, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)))
	if err != nil {
		return nil, err
	}
	return &Client{Conn: conn, Server: server, Timeout: 2 * time.Second}, nil
}

// Close closes the socket.
func (c *Client) Close() error { return c.Conn.Close() }

// Send writes raw bytes to the server.
func (c *Client) Send(b []byte) error {
	_, err := c.Conn.WriteToUDPAddrPort(b, c.Server)
	return err
}

// Receive reads one datagram, or returns ErrNoAnswer after the timeout.
func (c *Client) Receive() ([]byte, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	if err := c.Conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	buf := make([]byte, radius.MaxPacketLength+1)
	n, _, err := c.Conn.ReadFromUDPAddrPort(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, ErrNoAnswer
	}
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// Exchange sends the encoded request raw and returns the answer, checked
// to be an authentic response to it (Response Authenticator) and parsed.
func (c *Client) Exchange(raw, secret []byte) (*radius.Packet, []byte, error) {
	if err := c.Send(raw); err != nil {
		return nil, nil, err
	}
	b, err := c.Receive()
	if err != nil {
		return nil, nil, err
	}
	if !radius.IsAuthenticResponse(b, raw, secret) {
		return nil, b, fmt.Errorf("radiustest: answer is not authentic")
	}
	p, err := radius.Parse(b, secret)
	if err != nil {
		return nil, b, err
	}
	if p.Identifier != raw[1] {
		return nil, b, fmt.Errorf("radiustest: answer has Identifier %d, want %d", p.Identifier, raw[1])
	}
	return p, b, nil
}
