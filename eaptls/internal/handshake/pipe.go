package handshake

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"
)

// Flight is what TLS produced in one turn.
type Flight struct {
	Out   []byte // TLS records written in this turn; owned by the caller
	Done  bool   // the handshake (and the finishing step) is over
	Err   error  // with Done: why it failed
	State tls.ConnectionState
	Keys  []byte // with Done and no Err: what the finishing step returned
}

// Finish runs in the goroutine after a successful Handshake, for example to
// send or read the TLS 1.3 commitment message and export the keys.
type Finish func(*tls.Conn) (keys []byte, err error)

type input struct {
	msg, spare []byte
}

// Pipe is one handshake in progress. It is not safe for concurrent use.
type Pipe struct {
	in     chan input
	ev     chan Flight
	quit   chan struct{}
	exited chan struct{}
	stop   sync.Once
	done   bool

	// Owned by the goroutine while it runs (see the package comment).
	pending []byte
	out     []byte
}

// Start runs newConn(conn).Handshake in a goroutine, with first as the
// first input (nil for a client, which speaks first), and returns once TLS
// has produced its first flight.
func Start(newConn func(net.Conn) *tls.Conn, first []byte, finish Finish) (*Pipe, Flight) {
	p := &Pipe{
		in:      make(chan input),
		ev:      make(chan Flight),
		quit:    make(chan struct{}),
		exited:  make(chan struct{}),
		pending: first,
	}
	go p.run(newConn(conn{p}), finish)
	return p, p.wait()
}

// Feed gives TLS the peer's next complete message and returns TLS's answer.
// The Pipe reads msg until the answer is returned. spare, if not nil, is a
// buffer (for example a previous Flight.Out) that the Pipe may reuse.
func (p *Pipe) Feed(msg, spare []byte) Flight {
	if p.done {
		return Flight{Done: true, Err: net.ErrClosed}
	}
	p.in <- input{msg: msg, spare: spare}
	return p.wait()
}

func (p *Pipe) wait() Flight {
	f := <-p.ev
	if f.Done {
		p.done = true
		<-p.exited
	}
	return f
}

// Close stops the goroutine if it is still waiting for input, and waits
// for it to end. It is safe to call more than once.
func (p *Pipe) Close() {
	p.stop.Do(func() { close(p.quit) })
	<-p.exited
	p.pending, p.out = nil, nil
}

func (p *Pipe) run(c *tls.Conn, finish Finish) {
	defer close(p.exited)
	f := Flight{Done: true}
	func() {
		// A panic in a caller's callback (VerifyConnection) fails this
		// handshake instead of the whole server. The conn is not touched
		// afterwards: its handshake lock may still be held.
		defer func() {
			if r := recover(); r != nil {
				f.Err = fmt.Errorf("panic in the TLS handshake: %v", r)
			}
		}()
		f.Err = c.Handshake()
		if f.Err == nil {
			f.Keys, f.Err = finish(c)
		}
		f.State = c.ConnectionState()
	}()
	f.Out, p.out, p.pending = p.out, nil, nil
	select {
	case p.ev <- f:
	case <-p.quit:
	}
}

// read is conn.Read, running in the goroutine.
func (p *Pipe) read(b []byte) (int, error) {
	if len(p.pending) == 0 {
		// End of this flight: hand it over and wait for the peer's answer.
		select {
		case p.ev <- Flight{Out: p.out}:
		case <-p.quit:
			return 0, net.ErrClosed
		}
		p.out = nil
		select {
		case in := <-p.in:
			p.pending, p.out = in.msg, in.spare[:0]
		case <-p.quit:
			return 0, net.ErrClosed
		}
		if len(p.pending) == 0 {
			return 0, net.ErrClosed
		}
	}
	n := copy(b, p.pending)
	p.pending = p.pending[n:]
	return n, nil
}

// conn is the in-memory net.Conn under the TLS conn. Writes are collected
// and never block.
type conn struct{ p *Pipe }

func (c conn) Read(b []byte) (int, error) { return c.p.read(b) }

func (c conn) Write(b []byte) (int, error) {
	c.p.out = append(c.p.out, b...)
	return len(b), nil
}

func (conn) Close() error                     { return nil }
func (conn) LocalAddr() net.Addr              { return addr{} }
func (conn) RemoteAddr() net.Addr             { return addr{} }
func (conn) SetDeadline(time.Time) error      { return nil }
func (conn) SetReadDeadline(time.Time) error  { return nil }
func (conn) SetWriteDeadline(time.Time) error { return nil }

type addr struct{}

func (addr) Network() string { return "eap" }
func (addr) String() string  { return "eap" }
