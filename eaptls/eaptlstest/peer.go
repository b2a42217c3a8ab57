package eaptlstest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"keycard/eaptls"
	"keycard/eaptls/internal/handshake"
)

// ErrFailure: the server ended the conversation with EAP-Failure.
var ErrFailure = errors.New("eaptlstest: server sent EAP-Failure")

// Peer is the supplicant side of one EAP-TLS conversation. It is not safe
// for concurrent use; Close frees it.
type Peer struct {
	// Identity is sent in the EAP-Response/Identity; NewPeer sets
	// "anonymous".
	Identity string

	tlsConfig *tls.Config
	fragSize  int
	reasm     eaptls.Reassembler
	frag      eaptls.Fragmenter
	pipe      *handshake.Pipe
	flight    []byte
	keys      []byte
	state     tls.ConnectionState
	tlsErr    error // the TLS error awaiting the server's EAP-Failure
	finished  bool  // the TLS handshake is over (keys or tlsErr set)
	done      bool
}

// NewPeer returns a peer that runs tls.Client with tlsConfig and sends at
// most fragmentSize bytes of TLS data per EAP-TLS response.
func NewPeer(tlsConfig *tls.Config, fragmentSize int) *Peer {
	return &Peer{Identity: "anonymous", tlsConfig: tlsConfig, fragSize: fragmentSize}
}

// Step consumes one EAP packet from the server and returns the peer's
// Response. Step(nil) begins the conversation with an unsolicited
// EAP-Response/Identity (Identifier 0), as an access point forwards it in
// the first Access-Request. done is set when the server sent Success or
// Failure; err is set on Failure or on a protocol error.
func (p *Peer) Step(in []byte) (out []byte, done bool, err error) {
	if p.done {
		return nil, true, errors.New("eaptlstest: conversation is over")
	}
	if in == nil {
		return p.response(0, eaptls.TypeIdentity, []byte(p.Identity)), false, nil
	}
	var pkt eaptls.Packet
	if err := pkt.UnmarshalBinary(in); err != nil {
		return nil, false, fmt.Errorf("eaptlstest: %w", err)
	}
	switch pkt.Code {
	case eaptls.CodeSuccess:
		p.done = true
		p.Close()
		if p.keys == nil {
			return nil, true, errors.New("eaptlstest: EAP-Success before the TLS handshake completed")
		}
		return nil, true, nil
	case eaptls.CodeFailure:
		p.done = true
		p.Close()
		if p.tlsErr != nil {
			return nil, true, fmt.Errorf("%w: %w", ErrFailure, p.tlsErr)
		}
		return nil, true, ErrFailure
	case eaptls.CodeRequest:
	default:
		return nil, false, fmt.Errorf("eaptlstest: unexpected EAP-%s", pkt.Code)
	}
	switch pkt.Type {
	case eaptls.TypeIdentity:
		return p.response(pkt.Identifier, eaptls.TypeIdentity, []byte(p.Identity)), false, nil
	case eaptls.TypeTLS:
	default:
		// Ask for EAP-TLS instead.
		return p.response(pkt.Identifier, eaptls.TypeNak, []byte{byte(eaptls.TypeTLS)}), false, nil
	}
	tp, err := eaptls.ParseTLSPayload(pkt.Data)
	if err != nil {
		return nil, false, fmt.Errorf("eaptlstest: %w", err)
	}
	out, err = p.tlsStep(tp)
	if err != nil {
		return nil, false, err
	}
	return p.tlsResponse(pkt.Identifier, out), false, nil
}

// tlsStep returns the EAP-TLS payload answering the server's payload tp.
func (p *Peer) tlsStep(tp eaptls.TLSPayload) ([]byte, error) {
	switch {
	case tp.Flags&eaptls.FlagStart != 0:
		if p.pipe != nil || p.finished {
			return nil, errors.New("eaptlstest: EAP-TLS Start in the middle of a handshake")
		}
		tlsConfig := p.tlsConfig
		var f handshake.Flight
		p.pipe, f = handshake.Start(func(c net.Conn) *tls.Conn { return tls.Client(c, tlsConfig) }, nil, clientFinish)
		return p.take(f)
	case tp.IsAck():
		if !p.frag.Pending() {
			return nil, errors.New("eaptlstest: server acknowledged, but no fragment is pending")
		}
		return p.next(), nil
	}
	if p.frag.Pending() {
		return nil, errors.New("eaptlstest: server sent TLS data instead of acknowledging a fragment")
	}
	msg, complete, err := p.reasm.Add(tp)
	if err != nil {
		return nil, fmt.Errorf("eaptlstest: %w", err)
	}
	if !complete {
		return nil, nil // ack
	}
	if p.pipe == nil {
		return nil, errors.New("eaptlstest: TLS data outside a handshake")
	}
	spare := p.flight
	p.flight = nil
	return p.take(p.pipe.Feed(msg, spare))
}

func (p *Peer) take(f handshake.Flight) ([]byte, error) {
	p.flight = f.Out
	if f.Done {
		p.pipe.Close()
		p.pipe = nil
		p.finished = true
		p.state = f.State
		if f.Err != nil {
			p.tlsErr = f.Err
		} else {
			p.keys = f.Keys
		}
	}
	if len(f.Out) == 0 {
		return nil, nil // ack
	}
	p.frag.Reset(f.Out)
	return p.next(), nil
}

func (p *Peer) next() []byte {
	return p.frag.Next(p.fragSize).Append(nil)
}

// clientFinish reads the TLS 1.3 commitment message (RFC 9190 section 2.5),
// which also processes the server's NewSessionTicket messages, then exports
// the keys.
func clientFinish(c *tls.Conn) ([]byte, error) {
	if c.ConnectionState().Version == tls.VersionTLS13 {
		var b [1]byte
		n, err := c.Read(b[:])
		if err != nil {
			return nil, fmt.Errorf("eaptlstest: reading the commitment message: %w", err)
		}
		if n != 1 || b[0] != 0 {
			return nil, fmt.Errorf("eaptlstest: commitment message %x, want 00", b[:n])
		}
	}
	return handshake.Keys(c.ConnectionState())
}

func (p *Peer) response(id uint8, typ eaptls.Type, data []byte) []byte {
	pkt := eaptls.Packet{Code: eaptls.CodeResponse, Identifier: id, Type: typ, Data: data}
	b, err := pkt.MarshalBinary()
	if err != nil {
		panic(err) // data is at most a fragment: cannot happen
	}
	return b
}

// tlsResponse wraps an EAP-TLS payload (nil for an ack) in a Response.
func (p *Peer) tlsResponse(id uint8, payload []byte) []byte {
	if payload == nil {
		payload = []byte{0}
	}
	return p.response(id, eaptls.TypeTLS, payload)
}

// Keys returns the MSK and EMSK the peer derived, or nil before the
// handshake completed.
func (p *Peer) Keys() (msk, emsk []byte) {
	if p.keys == nil {
		return nil, nil
	}
	return p.keys[:64:64], p.keys[64:128:128]
}

// ConnectionState returns the TLS state once the handshake is over.
func (p *Peer) ConnectionState() tls.ConnectionState { return p.state }

// Close stops the TLS goroutine, if any.
func (p *Peer) Close() {
	if p.pipe != nil {
		p.pipe.Close()
		p.pipe = nil
	}
	p.reasm.Release()
	p.frag.Reset(nil)
	p.flight = nil
}
