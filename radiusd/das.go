package radiusd

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius"
	"layeh.com/radius/rfc3576"
)

// The Dynamic Authorization client (RFC 5176): Keycard tells an access
// point to drop a session (Disconnect-Request) or to change it
// (CoA-Request, a new Session-Timeout after a stay extension).
//
// Every request carries Message-Authenticator first, computed (RFC 3579
// section 3.2, RFC 5176 section 3.3) over the packet with the
// Authenticator field and the attribute's own value zero; then the Request
// Authenticator is MD5(Code+Identifier+Length+16 zero octets+Attributes+
// Secret), as for accounting. That is the order hostapd's
// radius_msg_verify_das_req checks: the Request Authenticator over the
// packet as sent, then the Message-Authenticator with the Authenticator
// field zeroed.
//
// All requests of one address family share one UDP socket; an answer is
// matched to its request by source address and port and Identifier, so at
// most 256 requests are in flight to one DAS address and port (the
// Identifier space) and more wait their turn, which also keeps a burst of
// checkouts from overrunning an access point. A retransmission is the same
// packet (same Identifier, same authenticator).

// A SessionRef holds the identifiers of one session as the NAS sent them
// in accounting; the profile of the NAS picks which of them a request
// carries. Empty fields are not sent.
type SessionRef struct {
	UserName, AcctSessionID, CallingStationID, NASIdentifier string
	NASIPAddress, NASIPv6Address                             netip.Addr
}

// A DASTarget is where a session's Disconnect or CoA goes: NAS.DASAddress
// when set, else Addr, the address the session's accounting came from
// (the NAS's Network may be a whole subnet of access points). The port is
// the NAS's DASPort for Disconnect-Request and its CoA port (NAS.CoAPort,
// else its profile's) for CoA-Request.
type DASTarget struct {
	NAS  NAS
	Addr netip.Addr
}

// DASOutcome is how a Disconnect-Request or CoA-Request ended; it is a
// label of keycard_das_requests_total.
type DASOutcome string

const (
	DASAck      DASOutcome = "ack"       // Disconnect-ACK or CoA-ACK
	DASNAK      DASOutcome = "nak"       // Disconnect-NAK or CoA-NAK, see DASResult.ErrorCause
	DASNotFound DASOutcome = "not_found" // NAK with Error-Cause 503 Session-Context-Not-Found: the session is already gone
	DASNoAnswer DASOutcome = "no_answer" // no authentic answer after every retransmission
	DASError    DASOutcome = "error"     // not sent, or given up (see the error)
)

// errorCauseSessionNotFound is Error-Cause 503, Session-Context-Not-Found
// (RFC 5176 section 3.5).
const errorCauseSessionNotFound = int(rfc3576.ErrorCause_Value_SessionContextNotFound)

// DASResult is what one request came to.
type DASResult struct {
	Outcome    DASOutcome
	ErrorCause int           // the answer's Error-Cause (RFC 5176 section 3.5), 0 when none
	Attempts   int           // packets sent: 1 + retransmissions
	RTT        time.Duration // from the first transmission to the answer; 0 without one
}

// DASOptions configure a DASClient; the zero value is usable.
type DASOptions struct {
	// Timeout is how long the first attempt waits for an answer (default
	// 1 s); each retransmission waits twice as long as the one before.
	Timeout time.Duration
	// Retries is how many times an unanswered request is sent again
	// (default 3: four packets over 1+2+4+8 s); negative sends it once.
	Retries int
	// Now gives the Event-Timestamp (default time.Now). Timeouts and RTT
	// use the real clock.
	Now func() time.Time
	// Rand gives the Identifiers (default crypto/rand).
	Rand io.Reader
	// Logger gets one line per request (default slog.Default()).
	Logger *slog.Logger
	// Registry gets the client's metrics; nil means a private registry.
	Registry prometheus.Registerer
}

// ErrCoANotSupported is returned by DASClient.CoA for a NAS that does not
// accept CoA-Request (NAS.CoA is false); no packet is sent. The session
// keeps the Session-Timeout it was given and re-authenticates when it runs
// out.
var ErrCoANotSupported = errors.New("radiusd: the NAS does not accept CoA-Request")

// ErrDASClientClosed is returned for requests made or pending when the
// DASClient is closed.
var ErrDASClientClosed = errors.New("radiusd: DAS client closed")

const (
	defaultDASTimeout = time.Second
	defaultDASRetries = 3
	maxDASInFlight    = 256     // per DAS address and port: the Identifier space
	dasSocketBuffer   = 1 << 20 // bytes; a burst of answers must not overflow the socket
)

// A DASClient sends Disconnect-Request and CoA-Request packets and waits
// for their answers. It is safe for concurrent use; Close it when done.
type DASClient struct {
	timeout time.Duration
	retries int
	now     func() time.Time
	rand    io.Reader
	logger  *slog.Logger
	metrics *dasMetrics
	done    chan struct{} // closed by Close
	readers sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	conns   map[bool]*net.UDPConn  // by IPv4; opened on first use
	flights map[flightKey]*flight  // nil value: Identifier reserved, request not signed yet
	inUse   map[netip.AddrPort]int // flights per DAS address and port
	freed   chan struct{}          // closed (and replaced) when an Identifier frees up while waiting > 0
	waiting int
}

type flightKey struct {
	to netip.AddrPort
	id byte
}

// A flight is one request waiting for its answer.
type flight struct {
	code          radius.Code // of the request
	authenticator [16]byte    // the Request Authenticator
	key           *secretKey
	answer        chan *radius.Packet // capacity 1; the first authentic answer
}

// NewDASClient returns a client with opts. Sockets are opened on first use.
func NewDASClient(opts DASOptions) (*DASClient, error) {
	c := &DASClient{
		timeout: opts.Timeout,
		retries: opts.Retries,
		now:     opts.Now,
		rand:    opts.Rand,
		logger:  opts.Logger,
		done:    make(chan struct{}),
		conns:   map[bool]*net.UDPConn{},
		flights: map[flightKey]*flight{},
		inUse:   map[netip.AddrPort]int{},
		freed:   make(chan struct{}),
	}
	switch {
	case c.timeout < 0:
		return nil, fmt.Errorf("radiusd: DAS timeout %v is negative", c.timeout)
	case c.timeout == 0:
		c.timeout = defaultDASTimeout
	}
	switch {
	case c.retries < 0:
		c.retries = 0
	case c.retries == 0:
		c.retries = defaultDASRetries
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newDASMetrics(reg)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return c, nil
}

// Disconnect asks the NAS to end the session (Disconnect-Request) and
// waits for its answer, retransmitting with backoff. The error is not nil
// exactly when the outcome is DASError: nak, not_found and no_answer are
// answers (or their absence), not failures of the client.
func (c *DASClient) Disconnect(ctx context.Context, t DASTarget, ref SessionRef) (DASResult, error) {
	return c.exchange(ctx, dasDisconnect, t, ref, 0)
}

// CoA gives the session a new Session-Timeout (after a stay extension) by
// CoA-Request, like Disconnect otherwise. It returns ErrCoANotSupported,
// sending nothing, when the NAS does not accept CoA.
func (c *DASClient) CoA(ctx context.Context, t DASTarget, ref SessionRef, sessionTimeout time.Duration) (DASResult, error) {
	if !t.NAS.CoA {
		c.logger.Debug("radiusd: CoA not sent: the NAS does not accept CoA-Request", "nas", t.NAS.Name, "session", ref.AcctSessionID)
		return DASResult{Outcome: DASError}, fmt.Errorf("%w: NAS %s", ErrCoANotSupported, t.NAS.Name)
	}
	return c.exchange(ctx, dasCoA, t, ref, sessionTimeout)
}

// Close stops the client: pending requests end with ErrDASClientClosed and
// the sockets are closed.
func (c *DASClient) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	var errs []error
	for _, pc := range c.conns {
		errs = append(errs, pc.Close())
	}
	c.mu.Unlock()
	c.readers.Wait()
	return errors.Join(errs...)
}

// dasKind is a request kind, a label of the metrics.
type dasKind string

const (
	dasDisconnect dasKind = "disconnect"
	dasCoA        dasKind = "coa"
)

// exchange sends one request and waits for its answer.
func (c *DASClient) exchange(ctx context.Context, kind dasKind, t DASTarget, ref SessionRef, sessionTimeout time.Duration) (DASResult, error) {
	to, pkt, err := c.prepare(kind, t, ref, sessionTimeout)
	if err != nil {
		return c.finish(kind, t, to, ref, DASResult{Outcome: DASError}, err)
	}
	pc, id, err := c.reserve(ctx, to)
	if err != nil {
		return c.finish(kind, t, to, ref, DASResult{Outcome: DASError}, err)
	}
	defer c.release(to, id)
	f := &flight{code: pkt.Code, key: newSecretKey(t.NAS.Secret), answer: make(chan *radius.Packet, 1)}
	pkt.Identifier = id
	b, err := signRequest(pkt, f.key)
	if err != nil {
		return c.finish(kind, t, to, ref, DASResult{Outcome: DASError}, err)
	}
	copy(f.authenticator[:], b[4:headerLen])
	c.mu.Lock()
	c.flights[flightKey{to, id}] = f
	c.mu.Unlock()

	var (
		res     DASResult
		wait    = c.timeout
		timer   = time.NewTimer(wait)
		start   = time.Now()
		sendErr error
	)
	defer timer.Stop()
	for {
		res.Attempts++
		if _, err := pc.WriteToUDPAddrPort(b, to); err != nil {
			sendErr = err // like a lost packet: retried, and logged if nothing answers
		}
		select {
		case ans := <-f.answer:
			res.RTT = time.Since(start)
			if ec, err := rfc3576.ErrorCause_Lookup(ans); err == nil {
				res.ErrorCause = int(ec)
			}
			switch {
			case ans.Code == pkt.Code+1:
				res.Outcome = DASAck
			case res.ErrorCause == errorCauseSessionNotFound:
				res.Outcome = DASNotFound
			default:
				res.Outcome = DASNAK
			}
			return c.finish(kind, t, to, ref, res, nil)
		case <-timer.C:
			if res.Attempts > c.retries {
				res.Outcome = DASNoAnswer
				if sendErr != nil {
					c.logger.Warn("radiusd: DAS send failed", "nas", t.NAS.Name, "to", to.String(), "err", sendErr)
				}
				return c.finish(kind, t, to, ref, res, nil)
			}
			wait *= 2
			timer.Reset(wait)
		case <-ctx.Done():
			res.Outcome = DASError
			return c.finish(kind, t, to, ref, res, ctx.Err())
		case <-c.done:
			res.Outcome = DASError
			return c.finish(kind, t, to, ref, res, ErrDASClientClosed)
		}
	}
}

// prepare finds where the request goes and builds it, unsigned.
func (c *DASClient) prepare(kind dasKind, t DASTarget, ref SessionRef, sessionTimeout time.Duration) (netip.AddrPort, *radius.Packet, error) {
	prof, err := ProfileByName(t.NAS.Profile)
	if err != nil {
		return netip.AddrPort{}, nil, err
	}
	addr := t.NAS.DASAddress
	if !addr.IsValid() {
		addr = t.Addr
	}
	if !addr.IsValid() {
		return netip.AddrPort{}, nil, fmt.Errorf("radiusd: NAS %s: no address to send the %s to (no DAS address, no accounting source)", t.NAS.Name, kind)
	}
	port := t.NAS.dasPort()
	if kind == dasCoA {
		port = prof.coaPort(t.NAS)
	}
	to := netip.AddrPortFrom(addr.Unmap(), uint16(port))
	if len(t.NAS.Secret) == 0 {
		return to, nil, fmt.Errorf("radiusd: NAS %s: no shared secret to sign the %s", t.NAS.Name, kind)
	}
	var pkt *radius.Packet
	now := c.now()
	if kind == dasCoA {
		pkt, err = prof.coaRequest(ref, now, sessionTimeout)
	} else {
		pkt, err = prof.disconnectRequest(ref, now)
	}
	if err != nil {
		return to, nil, fmt.Errorf("radiusd: NAS %s: %s: %w", t.NAS.Name, kind, err)
	}
	return to, pkt, nil
}

// signRequest encodes pkt (Message-Authenticator among its attributes, any
// value) as a Disconnect-Request or CoA-Request: Message-Authenticator
// over the packet with a zero Authenticator field, then the Request
// Authenticator MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret).
func signRequest(pkt *radius.Packet, key *secretKey) ([]byte, error) {
	pkt.Authenticator = [16]byte{}
	b, err := pkt.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("radiusd: encode %v: %w", pkt.Code, err)
	}
	at, err := findMessageAuthenticator(b)
	if err != nil {
		return nil, fmt.Errorf("radiusd: encode %v: %w", pkt.Code, err)
	}
	var zero [16]byte
	mac := key.messageAuthenticator(b, at, zero[:])
	copy(b[at:], mac[:])
	responseAuthenticator(b, key.secret) // b[4:20] is zero: MD5 over the packet and the secret
	return b, nil
}

// reserve picks a random free Identifier for a request to to, waiting
// while all 256 are in flight, and opens the socket of to's family on
// first use.
func (c *DASClient) reserve(ctx context.Context, to netip.AddrPort) (*net.UDPConn, byte, error) {
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			return nil, 0, ErrDASClientClosed
		}
		pc, err := c.conn(to.Addr().Is4())
		if err != nil {
			c.mu.Unlock()
			return nil, 0, err
		}
		if c.inUse[to] < maxDASInFlight {
			var r [1]byte
			if _, err := io.ReadFull(c.rand, r[:]); err != nil {
				c.mu.Unlock()
				return nil, 0, fmt.Errorf("radiusd: DAS identifier: %w", err)
			}
			for i := range maxDASInFlight {
				k := flightKey{to, r[0] + byte(i)}
				if _, busy := c.flights[k]; !busy {
					c.flights[k] = nil
					c.inUse[to]++
					c.mu.Unlock()
					return pc, k.id, nil
				}
			}
		}
		freed := c.freed
		c.waiting++
		c.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
		case <-c.done:
		}
		c.mu.Lock()
		c.waiting--
		if err := ctx.Err(); err != nil {
			c.mu.Unlock()
			return nil, 0, err
		}
	}
}

// release frees the Identifier of a finished request.
func (c *DASClient) release(to netip.AddrPort, id byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.flights, flightKey{to, id})
	if c.inUse[to]--; c.inUse[to] <= 0 {
		delete(c.inUse, to)
	}
	if c.waiting > 0 {
		close(c.freed)
		c.freed = make(chan struct{})
	}
}

// conn returns the socket for IPv4 or IPv6 targets, opening it and its
// reader on first use. c.mu is held.
func (c *DASClient) conn(ipv4 bool) (*net.UDPConn, error) {
	if pc := c.conns[ipv4]; pc != nil {
		return pc, nil
	}
	network, local := "udp6", &net.UDPAddr{IP: net.IPv6unspecified}
	if ipv4 {
		network, local = "udp4", &net.UDPAddr{IP: net.IPv4zero}
	}
	pc, err := net.ListenUDP(network, local)
	if err != nil {
		return nil, fmt.Errorf("radiusd: DAS socket: %w", err)
	}
	pc.SetReadBuffer(dasSocketBuffer)  // best effort: the kernel caps it at rmem_max
	pc.SetWriteBuffer(dasSocketBuffer) // and wmem_max
	c.conns[ipv4] = pc
	c.readers.Add(1)
	go c.read(pc)
	return pc, nil
}

// read receives answers on pc until it is closed.
func (c *DASClient) read(pc *net.UDPConn) {
	defer c.readers.Done()
	buf := make([]byte, radius.MaxPacketLength+1)
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-c.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.logger.Warn("radiusd: DAS receive", "err", err)
			continue
		}
		c.receive(buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

// Reasons an answer is ignored, labels of keycard_das_answers_ignored_total.
const (
	ignoredMalformed     = "malformed"
	ignoredUnknown       = "unknown"           // no request in flight to that address and port with that Identifier
	ignoredCode          = "unexpected_code"   // not the ACK or NAK of the request
	ignoredAuthenticator = "bad_authenticator" // wrong Response Authenticator: forged, or another secret
	ignoredMsgAuth       = "bad_message_authenticator"
	ignoredDuplicate     = "duplicate" // a second answer to an answered request
)

var allIgnoredReasons = []string{ignoredMalformed, ignoredUnknown, ignoredCode, ignoredAuthenticator, ignoredMsgAuth, ignoredDuplicate}

// receive hands an authentic answer from from to its request; anything
// else is ignored and counted, and the request keeps waiting.
func (c *DASClient) receive(b []byte, from netip.AddrPort) {
	n, err := packetLength(b)
	if err != nil {
		c.metrics.ignored.WithLabelValues(ignoredMalformed).Inc()
		return
	}
	b = b[:n]
	c.mu.Lock()
	f := c.flights[flightKey{from, b[1]}]
	c.mu.Unlock()
	if f == nil {
		c.metrics.ignored.WithLabelValues(ignoredUnknown).Inc()
		return
	}
	if reason := f.verify(b); reason != "" {
		c.metrics.ignored.WithLabelValues(reason).Inc()
		c.logger.Debug("radiusd: DAS answer ignored", "from", from.String(), "reason", reason)
		return
	}
	ans, err := radius.Parse(slices.Clone(b), f.key.secret)
	if err != nil {
		c.metrics.ignored.WithLabelValues(ignoredMalformed).Inc()
		return
	}
	select {
	case f.answer <- ans:
	default:
		c.metrics.ignored.WithLabelValues(ignoredDuplicate).Inc()
	}
}

// verify checks an answer b (trimmed to its Length) against the request:
// its code, the Response Authenticator MD5(Code+Identifier+Length+
// RequestAuthenticator+Attributes+Secret), and the Message-Authenticator
// when there is one (RFC 5176 section 3.3: a bad one is silently
// discarded). It returns the reason to ignore b, or "".
func (f *flight) verify(b []byte) string {
	if code := radius.Code(b[0]); code != f.code+1 && code != f.code+2 {
		return ignoredCode
	}
	h := md5.New()
	h.Write(b[:4])
	h.Write(f.authenticator[:])
	h.Write(b[headerLen:])
	h.Write(f.key.secret)
	var sum [md5.Size]byte
	if !hmac.Equal(h.Sum(sum[:0]), b[4:headerLen]) {
		return ignoredAuthenticator
	}
	at, err := findMessageAuthenticator(b)
	switch {
	case errors.Is(err, errNoMsgAuth):
		return ""
	case err != nil:
		return ignoredMalformed
	}
	want := f.key.messageAuthenticator(b, at, f.authenticator[:])
	if !hmac.Equal(want[:], b[at:at+msgAuthLen]) {
		return ignoredMsgAuth
	}
	return ""
}

// finish logs and counts one request and returns its result. It never logs
// the secret.
func (c *DASClient) finish(kind dasKind, t DASTarget, to netip.AddrPort, ref SessionRef, res DASResult, err error) (DASResult, error) {
	c.metrics.requests.WithLabelValues(string(kind), string(res.Outcome)).Inc()
	if res.RTT > 0 {
		c.metrics.rtt.WithLabelValues(string(kind)).Observe(res.RTT.Seconds())
	}
	attrs := []slog.Attr{
		slog.String("kind", string(kind)),
		slog.String("nas", t.NAS.Name),
		slog.String("session", ref.AcctSessionID),
		slog.String("calling_station", ref.CallingStationID),
		slog.String("outcome", string(res.Outcome)),
		slog.Int("attempts", res.Attempts),
	}
	if to.IsValid() {
		attrs = append(attrs, slog.String("to", to.String()))
	}
	if res.ErrorCause != 0 {
		attrs = append(attrs, slog.Int("error_cause", res.ErrorCause))
	}
	if res.RTT > 0 {
		attrs = append(attrs, slog.Duration("rtt", res.RTT))
	}
	level := slog.LevelInfo
	switch res.Outcome {
	case DASNAK, DASNoAnswer:
		level = slog.LevelWarn
	case DASError:
		level = slog.LevelError
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	c.logger.LogAttrs(context.Background(), level, "radiusd: DAS "+string(kind)+" "+string(res.Outcome), attrs...)
	return res, err
}

// dasMetrics are the DAS client's Prometheus collectors.
type dasMetrics struct {
	requests *prometheus.CounterVec   // kind, outcome
	ignored  *prometheus.CounterVec   // reason
	rtt      *prometheus.HistogramVec // kind
}

func newDASMetrics(reg prometheus.Registerer) (*dasMetrics, error) {
	m := &dasMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keycard_das_requests_total",
			Help: "Disconnect-Request and CoA-Request packets (RFC 5176) finished, by kind (disconnect, coa) and outcome (ack, nak, not_found, no_answer, error).",
		}, []string{"kind", "outcome"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keycard_das_answers_ignored_total",
			Help: "Datagrams on the DAS client's sockets that answered no request, by reason.",
		}, []string{"reason"}),
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keycard_das_answer_seconds",
			Help:    "Time from the first transmission of a Disconnect-Request or CoA-Request to its answer.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20},
		}, []string{"kind"}),
	}
	for _, col := range []prometheus.Collector{m.requests, m.ignored, m.rtt} {
		if err := reg.Register(col); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("radiusd: DAS metrics already registered (one DASClient per registry): %w", err)
			}
			return nil, fmt.Errorf("radiusd: register DAS metrics: %w", err)
		}
	}
	// Pre-create the series so dashboards show zeros.
	for _, k := range []dasKind{dasDisconnect, dasCoA} {
		for _, o := range []DASOutcome{DASAck, DASNAK, DASNotFound, DASNoAnswer, DASError} {
			m.requests.WithLabelValues(string(k), string(o))
		}
	}
	for _, r := range allIgnoredReasons {
		m.ignored.WithLabelValues(r)
	}
	return m, nil
}
