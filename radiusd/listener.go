package radiusd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// readErrorBackoff is the pause after a failed read, so a persistent
// socket error cannot spin a core.
const readErrorBackoff = 50 * time.Millisecond

// requestTimeout bounds the work on one request (the Authorizer's
// database query above all).
const requestTimeout = 10 * time.Second

// A job is one received datagram waiting for a worker.
type job struct {
	conn     *net.UDPConn
	remote   netip.AddrPort
	data     []byte
	received time.Time
}

// read receives datagrams on conn and queues them for the workers until
// the server stops. When every worker is busy and the queue is full, the
// datagram is dropped and counted (the NAS will retransmit) rather than
// letting the socket buffer hide the overload.
//
// queueFor picks the queue of each datagram (see authQueue).
func (s *Server) read(conn *net.UDPConn, queueFor func(b []byte) chan<- job) {
	buf := make([]byte, radius.MaxPacketLength+1) // one more, to see oversized packets
	for {
		n, remote, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-s.closing:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.logger.Warn("radiusd: read", "addr", conn.LocalAddr().String(), "err", err)
			select { // do not spin on a persistent error
			case <-s.closing:
				return
			case <-time.After(readErrorBackoff):
			}
			continue
		}
		j := job{conn: conn, remote: remote, data: append([]byte(nil), buf[:n]...), received: time.Now()}
		select {
		case queueFor(j.data) <- j:
		default:
			s.dropped(remote, nil, drop(dropOverloaded, nil))
		}
	}
}

// work serves queued datagrams with h until the queue is closed.
func (s *Server) work(base context.Context, queue <-chan job, h handler) {
	for j := range queue {
		s.serveDatagram(base, j, h)
	}
}

// The authentication port has two queues. An Access-Request carrying a
// State continues an EAP conversation already under way: a guest half way
// through its handshake, whose NAS gives up after a few retransmissions.
// One without a State starts a conversation, which anyone who knows a
// NAS's secret (or replays one of its requests) can send by the thousand.
// Workers take from the first queue before the second, so a flood of new
// conversations waits, and is dropped when its queue is full, while the
// guests already in a handshake are served.

// authQueue picks the queue of an authentication datagram. It looks only
// for a State attribute; nothing is trusted before the pipeline has
// checked the packet.
func (s *Server) authQueue(b []byte) chan<- job {
	if hasState(b) {
		return s.resume
	}
	return s.queue
}

// hasState reports whether b, as received, holds a State attribute.
func hasState(b []byte) bool {
	if len(b) < headerLen {
		return false
	}
	for i := headerLen; i+2 <= len(b); {
		typ, n := b[i], int(b[i+1])
		if n < 2 {
			return false
		}
		if radius.Type(typ) == rfc2865.State_Type {
			return true
		}
		i += n
	}
	return false
}

// workAuth serves the authentication queues, resume before fresh, until
// both are closed and drained.
func (s *Server) workAuth(base context.Context, resume, fresh <-chan job, h handler) {
	for resume != nil || fresh != nil {
		select {
		case j, ok := <-resume:
			if !ok {
				resume = nil
				continue
			}
			s.serveDatagram(base, j, h)
			continue
		default:
		}
		select {
		case j, ok := <-resume:
			if !ok {
				resume = nil
				continue
			}
			s.serveDatagram(base, j, h)
		case j, ok := <-fresh:
			if !ok {
				fresh = nil
				continue
			}
			s.serveDatagram(base, j, h)
		}
	}
}

// serveDatagram runs a port's pipeline h on one datagram.
func (s *Server) serveDatagram(base context.Context, j job, h handler) {
	ctx, cancel := context.WithTimeout(base, requestTimeout)
	defer cancel()
	r := &request{ctx: ctx, remote: j.remote, raw: j.data, received: j.received}
	w := &udpWriter{s: s, conn: j.conn, remote: j.remote}
	defer func() {
		// A bug in one request must not take the hotel's Wi-Fi down.
		if v := recover(); v != nil {
			s.logger.Error("radiusd: panic serving a request", "nas", r.nas.Name, "remote", j.remote.String(),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			s.dropped(j.remote, r, drop(dropInternal, fmt.Errorf("panic: %v", v)))
		}
	}()
	if err := h.serveRADIUS(w, r); err != nil {
		s.dropped(j.remote, r, err)
	}
}

// dropped counts a dropped packet and logs it, rate-limited per cause and
// source.
func (s *Server) dropped(remote netip.AddrPort, r *request, err error) {
	cause := causeOf(err)
	s.metrics.dropped.WithLabelValues(string(cause)).Inc()
	source := remote.Addr().String()
	if r != nil && r.nas.Name != "" {
		source = r.nas.Name
	} else if nas, ok := s.deps.NAS.Lookup(remote.Addr()); ok {
		source = nas.Name
	}
	s.drops.log(cause, source, remote.String(), err)
}

// udpWriter sends replies on the socket the request came in on.
type udpWriter struct {
	s      *Server
	conn   *net.UDPConn
	remote netip.AddrPort
}

func (w *udpWriter) writeReply(b []byte, delay time.Duration) {
	send := func() {
		if _, err := w.conn.WriteToUDPAddrPort(b, w.remote); err != nil && !errors.Is(err, net.ErrClosed) {
			w.s.logger.Warn("radiusd: send reply", "remote", w.remote.String(), "err", err)
		}
	}
	if delay <= 0 {
		send()
		return
	}
	w.s.delayed.schedule(delay, send)
}

// delayedSends are replies waiting for their time (Access-Reject after
// Config.RejectDelay) on timers, so no worker sleeps. On shutdown they are
// sent at once.
type delayedSends struct {
	mu      sync.Mutex
	pending map[*time.Timer]func()
	flushed bool
	wg      sync.WaitGroup
}

func newDelayedSends() *delayedSends {
	return &delayedSends{pending: map[*time.Timer]func(){}}
}

func (d *delayedSends) schedule(delay time.Duration, send func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.flushed {
		send()
		return
	}
	d.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		defer d.wg.Done()
		d.mu.Lock()
		delete(d.pending, t)
		d.mu.Unlock()
		send()
	})
	d.pending[t] = send
}

// flush sends every pending reply now and waits for those already firing.
func (d *delayedSends) flush() {
	d.mu.Lock()
	d.flushed = true
	for t, send := range d.pending {
		if t.Stop() {
			delete(d.pending, t)
			send()
			d.wg.Done()
		}
	}
	d.mu.Unlock()
	d.wg.Wait()
}
