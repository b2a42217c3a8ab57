package loadgen

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"layeh.com/radius"
)

// nas is one simulated access point: a connected UDP socket to the server,
// its RADIUS Identifier sequence, and its retransmission policy.
type nas struct {
	conn    *net.UDPConn
	secret  []byte
	timeout time.Duration
	retries int
	nextID  uint8
	buf     []byte

	// allowLate accepts a valid Message-Authenticator that is not the
	// first attribute, counting it in late instead of failing.
	allowLate bool

	retransmits int // counted for the report
	late        int
}

func dialNAS(ctx context.Context, o Options) (*nas, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", o.Server)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	var id [1]byte
	if _, err := rand.Read(id[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	return &nas{
		conn:      c.(*net.UDPConn),
		secret:    o.Secret,
		timeout:   o.Timeout,
		retries:   o.Retries,
		allowLate: o.AllowLateMessageAuthenticator,
		nextID:    id[0],
		buf:       make([]byte, radius.MaxPacketLength+1),
	}, nil
}

func (n *nas) Close() error { return n.conn.Close() }

// exchange sends an Access-Request with attrs (Message-Authenticator is put
// first and signed here), retransmits it unchanged on timeout, and returns
// the first answer with the request's Identifier whose Response
// Authenticator and Message-Authenticator check out, with the Request
// Authenticator (MS-MPPE keys are encrypted with it).
func (n *nas) exchange(ctx context.Context, attrs radius.Attributes) (*radius.Packet, [16]byte, error) {
	req := &radius.Packet{Code: radius.CodeAccessRequest, Identifier: n.nextID, Secret: n.secret}
	n.nextID++
	if _, err := rand.Read(req.Authenticator[:]); err != nil {
		return nil, req.Authenticator, fail(CauseInternal, err)
	}
	req.Attributes = make(radius.Attributes, 0, len(attrs)+1)
	req.Add(attrMessageAuthenticator, make(radius.Attribute, msgAuthLen))
	req.Attributes = append(req.Attributes, attrs...)
	wire, err := req.MarshalBinary()
	if err == nil {
		err = signRequest(wire, n.secret)
	}
	if err != nil {
		return nil, req.Authenticator, fail(CauseInternal, err)
	}

	for try := 0; try <= n.retries; try++ {
		if err := ctx.Err(); err != nil {
			return nil, req.Authenticator, fail(CauseCancelled, err)
		}
		if try > 0 {
			n.retransmits++
		}
		if _, err := n.conn.Write(wire); err != nil {
			return nil, req.Authenticator, fail(CauseNetwork, err)
		}
		resp, err := n.await(ctx, wire, req)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		return resp, req.Authenticator, err
	}
	return nil, req.Authenticator, fail(CauseTimeout, fmt.Errorf("loadgen: no answer to request %d after %d tries", req.Identifier, n.retries+1))
}

// await reads answers until one matches req or the timeout passes.
func (n *nas) await(ctx context.Context, wire []byte, req *radius.Packet) (*radius.Packet, error) {
	deadline, ctxDeadline := time.Now().Add(n.timeout), false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
	}
	if err := n.conn.SetReadDeadline(deadline); err != nil {
		return nil, fail(CauseNetwork, err)
	}
	// Cancelling ctx ends the wait now rather than at the deadline.
	stop := context.AfterFunc(ctx, func() { n.conn.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		m, err := n.conn.Read(n.buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if ctx.Err() != nil {
					return nil, fail(CauseCancelled, ctx.Err())
				}
				if ctxDeadline { // ctx's timer may not have fired yet
					return nil, fail(CauseCancelled, context.DeadlineExceeded)
				}
				return nil, err
			}
			return nil, fail(CauseNetwork, err)
		}
		b := n.buf[:m]
		if m < radiusHeaderLen || b[1] != req.Identifier {
			continue // a late answer to an earlier request
		}
		if !radius.IsAuthenticResponse(b, wire, n.secret) {
			return nil, fail(CauseResponseAuthenticator, errors.New("loadgen: Response Authenticator does not match"))
		}
		switch err := checkResponseMessageAuthenticator(b, req.Authenticator, n.secret); {
		case errors.Is(err, errMsgAuthNotFirst) && n.allowLate:
			n.late++
		case err != nil:
			return nil, fail(msgAuthCause(err), err)
		}
		resp, err := radius.Parse(b, n.secret)
		if err != nil {
			return nil, fail(CauseProtocol, fmt.Errorf("loadgen: %w", err))
		}
		return resp, nil
	}
}

func msgAuthCause(err error) Cause {
	switch {
	case errors.Is(err, errMsgAuthMissing):
		return CauseMsgAuthMissing
	case errors.Is(err, errMsgAuthNotFirst):
		return CauseMsgAuthNotFirst
	case errors.Is(err, errMsgAuthInvalid):
		return CauseMsgAuthInvalid
	}
	return CauseProtocol
}
