package radiusd

import (
	"context"
	"net/netip"
	"time"
)

// recorder is a responseWriter that keeps the reply instead of sending it.
type recorder struct {
	reply []byte
	delay time.Duration
}

func (r *recorder) writeReply(b []byte, delay time.Duration) { r.reply, r.delay = b, delay }

// HandlePacket runs the whole auth pipeline on one datagram from remote, as
// a worker does, and returns the reply (nil when dropped) and the drop
// cause ("" when answered).
func (s *Server) HandlePacket(remote netip.AddrPort, b []byte) (reply []byte, cause string) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	w := &recorder{}
	r := &request{ctx: ctx, remote: remote, raw: b, received: time.Now()}
	if err := s.handler.serveRADIUS(w, r); err != nil {
		s.dropped(remote, r, err)
		return nil, string(causeOf(err))
	}
	return w.reply, ""
}

// HandleAccounting runs the whole accounting pipeline on one datagram from
// remote, as an accounting worker does.
func (s *Server) HandleAccounting(remote netip.AddrPort, b []byte) (reply []byte, cause string) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	w := &recorder{}
	r := &request{ctx: ctx, remote: remote, raw: b, received: time.Now()}
	if err := s.acct.serveRADIUS(w, r); err != nil {
		s.dropped(remote, r, err)
		return nil, string(causeOf(err))
	}
	return w.reply, ""
}
