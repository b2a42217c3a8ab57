package radiusd

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2869"
)

// A request is one datagram on its way through the middlewares. Each
// middleware fills in what it learns: nas, then packet.
type request struct {
	ctx      context.Context
	remote   netip.AddrPort
	raw      []byte    // as received
	received time.Time // monotonic, for latency
	nas      NAS
	key      *secretKey     // nas.Secret, ready for HMAC-MD5
	packet   *radius.Packet // parsed; raw trimmed to its Length
}

// A responseWriter sends an encoded reply to the request's source, after
// delay (0 = now). It is called at most once per request.
type responseWriter interface {
	writeReply(b []byte, delay time.Duration)
}

// A handler serves one request. It returns nil when it answered, or an
// error (a *dropError naming the cause) when the packet gets no answer.
type handler interface {
	serveRADIUS(w responseWriter, r *request) error
}

type handlerFunc func(w responseWriter, r *request) error

func (f handlerFunc) serveRADIUS(w responseWriter, r *request) error { return f(w, r) }

// A middleware wraps a handler, like a CoreDNS plugin.
type middleware func(handler) handler

// chain wraps h so that a request meets mws in order, the first outermost.
func chain(h handler, mws ...middleware) handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// authHandler is the whole auth-port pipeline, from datagram to answer.
func (s *Server) authHandler() handler {
	return chain(handlerFunc(s.dispatch),
		s.withNAS,
		s.withParse,
		s.withMessageAuthenticator,
	)
}

// withNAS drops packets whose source is no known NAS.
func (s *Server) withNAS(next handler) handler {
	return handlerFunc(func(w responseWriter, r *request) error {
		nas, ok := s.deps.NAS.Lookup(r.remote.Addr())
		if !ok {
			return drop(dropUnknownNAS, nil)
		}
		r.nas, r.key = nas, s.secrets.get(nas.Secret)
		return next.serveRADIUS(w, r)
	})
}

// withParse checks sizes and decodes the packet; only Access-Request and
// Status-Server belong on the auth port.
func (s *Server) withParse(next handler) handler {
	return handlerFunc(func(w responseWriter, r *request) error {
		if err := r.parse(radius.CodeAccessRequest, radius.CodeStatusServer); err != nil {
			return err
		}
		return next.serveRADIUS(w, r)
	})
}

// parse checks the datagram's size and Length, that its code is one of
// codes (what belongs on this port), and decodes it into r.packet. It
// returns the drop error otherwise.
func (r *request) parse(codes ...radius.Code) error {
	if len(r.raw) > radius.MaxPacketLength {
		return drop(dropOversized, nil)
	}
	n, err := packetLength(r.raw)
	if err != nil {
		var short shortError
		if errors.As(err, &short) {
			return drop(dropShort, err)
		}
		return drop(dropMalformed, err)
	}
	r.raw = r.raw[:n]
	if code := radius.Code(r.raw[0]); !slices.Contains(codes, code) {
		return drop(dropBadCode, errors.New(code.String()))
	}
	p, err := radius.Parse(r.raw, r.nas.Secret)
	if err != nil {
		return drop(dropMalformed, err)
	}
	r.packet = p
	return nil
}

// withMessageAuthenticator checks Message-Authenticator: a wrong one is
// always dropped; a missing one is dropped for Status-Server (RFC 5997),
// with EAP-Message (RFC 3579), and from a NAS that requires it.
func (s *Server) withMessageAuthenticator(next handler) handler {
	return handlerFunc(func(w responseWriter, r *request) error {
		err := checkMessageAuthenticator(r.raw, r.key)
		switch {
		case err == nil:
		case errors.Is(err, errNoMsgAuth):
			_, eap := r.packet.Lookup(rfc2869.EAPMessage_Type)
			if !r.nas.AllowMissingMessageAuthenticator || eap || r.packet.Code == radius.CodeStatusServer {
				return drop(dropMissingMsgAuth, nil)
			}
			s.metrics.noMsgAuth.Inc()
		case errors.Is(err, errBadMsgAuth):
			return drop(dropBadMsgAuth, nil)
		default:
			return drop(dropMalformed, err)
		}
		return next.serveRADIUS(w, r)
	})
}

// dispatch routes an authentic request by code.
func (s *Server) dispatch(w responseWriter, r *request) error {
	s.metrics.requests.WithLabelValues(r.packet.Code.String()).Inc()
	switch r.packet.Code {
	case radius.CodeStatusServer:
		return s.serveStatus(w, r)
	default:
		return s.accessRequest.serveRADIUS(w, r)
	}
}

// serveStatus answers Status-Server (RFC 5997) with Access-Accept: the
// server is alive and the NAS's secret is right. It is not cached.
func (s *Server) serveStatus(w responseWriter, r *request) error {
	return s.respond(w, r, r.packet.Response(radius.CodeAccessAccept), 0)
}

// respond encodes resp as the answer to r and hands it to w.
func (s *Server) respond(w responseWriter, r *request, resp *radius.Packet, delay time.Duration) error {
	b, err := encodeResponse(resp, r.packet, r.key)
	if err != nil {
		return drop(dropInternal, err)
	}
	w.writeReply(b, delay)
	return nil
}
