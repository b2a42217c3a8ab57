package loadgen

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
)

// AcctOptions describe one accounting load run. Server, Secret and one of
// Count or Duration are required; the rest have defaults.
type AcctOptions struct {
	Server string // host:port of the RADIUS accounting listener
	Secret []byte // RADIUS shared secret of the NAS we pretend to be

	Sockets  int           // parallel NAS sockets, each running one session at a time; default 64
	Count    int           // sessions in all (three records each); 0 = no count limit
	Duration time.Duration // stop starting sessions after this; 0 = no time limit

	Timeout       time.Duration // wait for an Accounting-Response before retransmitting; default 2s
	Retries       int           // retransmissions of one record before giving up on it; default 2
	NASIdentifier string        // NAS-Identifier; default "keycard-loadgen"

	// FirstSession numbers the run's first session; session n has
	// Acct-Session-Id AcctSessionID(FirstSession+n). Runs against the same
	// server need distinct ranges, or their records merge into the same
	// sessions.
	FirstSession int

	// OnAck, when set, is called for every record the server acknowledged
	// with a verified Accounting-Response, from the socket's goroutine
	// (concurrently across sockets) before the socket sends its next
	// record: what it is given is what the server promised to keep.
	OnAck func(AcctAck)

	// AllowRemote lets Server be a non-loopback address (see
	// Options.AllowRemote).
	AllowRemote bool
}

// DefaultSockets is AcctOptions.Sockets when unset.
const DefaultSockets = 64

// withDefaults returns o with defaults filled in, or an error naming every
// bad field.
func (o AcctOptions) withDefaults() (AcctOptions, error) {
	if o.Sockets == 0 {
		o.Sockets = DefaultSockets
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	if o.NASIdentifier == "" {
		o.NASIdentifier = DefaultNASIdentifier
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("loadgen: "+format, args...)) }
	if o.Server == "" {
		bad("server: missing")
	} else if err := checkServer(o.Server, o.AllowRemote); err != nil {
		bad("server: %w", err)
	}
	if len(o.Secret) == 0 {
		bad("secret: missing")
	}
	if o.Sockets < 1 || o.Sockets > maxConcurrency {
		bad("sockets: %d is out of range; use 1..%d", o.Sockets, maxConcurrency)
	}
	if o.Count < 0 || o.Duration < 0 {
		bad("count and duration must not be negative")
	}
	if o.Count == 0 && o.Duration == 0 {
		bad("count or duration: set at least one so the run ends by itself")
	}
	if o.Timeout < 0 || o.Retries < 0 {
		bad("timeout and retries must be positive")
	}
	if o.FirstSession < 0 {
		bad("first session: %d is negative", o.FirstSession)
	}
	return o, errors.Join(errs...)
}

// AcctSessionID is the Acct-Session-Id of session number n.
func AcctSessionID(n int) string { return fmt.Sprintf("loadgen-%08d", n) }

// Accounting runs AcctOptions.Sockets simulated access points against
// AcctOptions.Server. Each socket runs one session after another, each
// session three Accounting-Requests (Start, Interim-Update, Stop) with
// rising counters, sending a record only once the one before it was
// acknowledged. It stops starting sessions after AcctOptions.Count sessions
// or AcctOptions.Duration (sessions under way then are finished), or when
// ctx is done (records under way then fail as cancelled). A record that is
// not acknowledged after its retransmissions ends its session: the socket
// goes on with a new one. Accounting returns an error only when the run
// could not start; failed records are counted in the report.
func Accounting(ctx context.Context, opts AcctOptions) (AcctReport, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return AcctReport{}, err
	}
	socks := make([]*acctSocket, o.Sockets)
	defer func() {
		for _, s := range socks {
			if s != nil {
				s.conn.Close()
			}
		}
	}()
	for i := range socks {
		if socks[i], err = dialAcct(ctx, o, i); err != nil {
			return AcctReport{}, err
		}
	}

	// Every session in flight may need three records of up to
	// (Retries+1)*Timeout each; past that the run is stuck and ctx ends it.
	var stopStarting time.Time
	if o.Duration > 0 {
		stopStarting = time.Now().Add(o.Duration)
		hard := o.Duration + 3*time.Duration(o.Retries+1)*o.Timeout
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, hard)
		defer cancel()
	}
	var started atomic.Int64
	take := func() (int, bool) {
		if ended(ctx) != nil || (!stopStarting.IsZero() && !time.Now().Before(stopStarting)) {
			return 0, false
		}
		n := int(started.Add(1)) - 1
		return o.FirstSession + n, o.Count == 0 || n < o.Count
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		rep       = AcctReport{Failures: map[Cause]int{}}
	)
	record := func(ack *AcctAck, err error) {
		mu.Lock()
		defer mu.Unlock()
		rep.Records++
		if err != nil {
			rep.Failures[causeOf(err)]++
			if rep.FirstError == "" {
				rep.FirstError = err.Error()
			}
			return
		}
		rep.Acked++
		latencies = append(latencies, ack.Latency)
		switch ack.Kind {
		case AcctStart:
			rep.Sessions++
		case AcctStop:
			rep.Completed++
		}
	}

	begin := time.Now()
	var wg sync.WaitGroup
	for _, s := range socks {
		wg.Go(func() {
			for n, ok := take(); ok; n, ok = take() {
				s.session(ctx, n, record)
			}
		})
	}
	wg.Wait()
	rep.Elapsed = time.Since(begin)

	for _, s := range socks {
		rep.Sent += s.sent
		rep.Retransmits += s.retransmits
	}
	if rep.Elapsed > 0 {
		rep.PacketsPerSec = float64(rep.Acked) / rep.Elapsed.Seconds()
	}
	slices.Sort(latencies)
	rep.P50 = percentile(latencies, 50)
	rep.P99 = percentile(latencies, 99)
	return rep, nil
}

// acctSocket is one simulated access point on the accounting port: a
// connected UDP socket, its Identifier sequence and its station.
type acctSocket struct {
	o       AcctOptions
	conn    *net.UDPConn
	nextID  uint8
	buf     []byte
	station string // Calling-Station-Id
	user    string // User-Name
	nasIP   net.IP // NAS-IP-Address: the socket's own address, when IPv4

	sent, retransmits int // owned by the socket's goroutine until the run ends
}

func dialAcct(ctx context.Context, o AcctOptions, i int) (*acctSocket, error) {
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
	conn := c.(*net.UDPConn)
	return &acctSocket{
		o: o, conn: conn, nextID: id[0], buf: make([]byte, radius.MaxPacketLength+1),
		station: stationID(i), user: fmt.Sprintf("loadgen-station-%d", i),
		nasIP: conn.LocalAddr().(*net.UDPAddr).IP.To4(),
	}, nil
}

// session runs session n to its Stop, or to its first record that is not
// acknowledged.
func (s *acctSocket) session(ctx context.Context, n int, record func(*AcctAck, error)) {
	for _, kind := range []AcctKind{AcctStart, AcctInterim, AcctStop} {
		ack := sessionUsage(n, kind)
		ack.CallingStationID = s.station
		err := s.send(ctx, &ack)
		record(&ack, err)
		if err != nil {
			return
		}
		if s.o.OnAck != nil {
			s.o.OnAck(ack)
		}
	}
}

// sessionUsage is what session n reports in a record of kind: counters
// that rise from Start to Stop and, in every fourth session, pass 4 GiB so
// the Gigawords attributes are needed.
func sessionUsage(n int, kind AcctKind) AcctAck {
	a := AcctAck{Session: n, AcctSessionID: AcctSessionID(n), Kind: kind}
	step := uint64(0)
	switch kind {
	case AcctInterim:
		step = 1
	case AcctStop:
		step = 2
	}
	if step == 0 {
		return a
	}
	base := uint64(1_000_000 + (n%1000)*1_000)
	a.InputOctets, a.OutputOctets = step*base, 3*step*base
	if n%4 == 3 {
		a.InputOctets += step * 5 << 32
		a.OutputOctets += step * 7 << 32
	}
	a.InputPackets, a.OutputPackets = a.InputOctets/1000, a.OutputOctets/1000
	a.SessionTime = time.Duration(step) * time.Minute
	return a
}

// packet builds the Accounting-Request of ack (its Identifier is set by
// send).
func (s *acctSocket) packet(ack *AcctAck) (*radius.Packet, error) {
	p := radius.New(radius.CodeAccountingRequest, s.o.Secret)
	status := rfc2866.AcctStatusType(ack.Kind)
	rfc2866.AcctStatusType_Set(p, status)
	for _, err := range []error{
		rfc2866.AcctSessionID_SetString(p, ack.AcctSessionID),
		rfc2865.UserName_SetString(p, s.user),
		rfc2865.CallingStationID_SetString(p, ack.CallingStationID),
		rfc2865.CalledStationID_SetString(p, "02-00-00-00-00-01:Keycard"),
		rfc2865.NASIdentifier_SetString(p, s.o.NASIdentifier),
		rfc2865.FramedIPAddress_Set(p, framedIP(ack.Session)),
	} {
		if err != nil {
			return nil, err
		}
	}
	if s.nasIP != nil {
		if err := rfc2865.NASIPAddress_Set(p, s.nasIP); err != nil {
			return nil, err
		}
	}
	rfc2865.NASPortType_Set(p, rfc2865.NASPortType_Value_Wireless80211)
	rfc2866.AcctDelayTime_Set(p, 0)
	if ack.Kind == AcctStart {
		return p, nil
	}
	rfc2866.AcctSessionTime_Set(p, rfc2866.AcctSessionTime(ack.SessionTime/time.Second))
	rfc2866.AcctInputOctets_Set(p, rfc2866.AcctInputOctets(uint32(ack.InputOctets)))
	rfc2866.AcctOutputOctets_Set(p, rfc2866.AcctOutputOctets(uint32(ack.OutputOctets)))
	if g := ack.InputOctets >> 32; g > 0 {
		rfc2869.AcctInputGigawords_Set(p, rfc2869.AcctInputGigawords(g))
	}
	if g := ack.OutputOctets >> 32; g > 0 {
		rfc2869.AcctOutputGigawords_Set(p, rfc2869.AcctOutputGigawords(g))
	}
	rfc2866.AcctInputPackets_Set(p, rfc2866.AcctInputPackets(ack.InputPackets))
	rfc2866.AcctOutputPackets_Set(p, rfc2866.AcctOutputPackets(ack.OutputPackets))
	if ack.Kind == AcctStop {
		rfc2866.AcctTerminateCause_Set(p, rfc2866.AcctTerminateCause_Value_UserRequest)
	}
	return p, nil
}

// framedIP is a distinct address in 10.0.0.0/8 for each session.
func framedIP(n int) net.IP {
	return net.IPv4(10, byte(n>>16), byte(n>>8), byte(n)).To4()
}

// send sends the record, retransmits the same bytes on timeout, and
// returns once a verified Accounting-Response for it arrived; it fills in
// ack.Latency, from the first send.
func (s *acctSocket) send(ctx context.Context, ack *AcctAck) error {
	p, err := s.packet(ack)
	if err != nil {
		return fail(CauseInternal, err)
	}
	p.Identifier = s.nextID
	s.nextID++
	wire, err := p.Encode() // computes the Request Authenticator (RFC 2866 section 3)
	if err != nil {
		return fail(CauseInternal, err)
	}
	t0 := time.Now()
	for try := 0; try <= s.o.Retries; try++ {
		if err := ended(ctx); err != nil {
			return fail(CauseCancelled, err)
		}
		if try > 0 {
			s.retransmits++
		}
		s.sent++
		if _, err := s.conn.Write(wire); err != nil && !refused(err) {
			return fail(CauseNetwork, err)
		}
		err := s.await(ctx, wire)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return err
		}
		ack.Latency = time.Since(t0)
		return nil
	}
	return fail(CauseTimeout, fmt.Errorf("loadgen: no Accounting-Response to %s of %s (Identifier %d) after %d tries",
		ack.Kind, ack.AcctSessionID, wire[1], s.o.Retries+1))
}

// ended is ctx.Err(), or context.DeadlineExceeded as soon as ctx's
// deadline has passed (its timer may not have fired yet).
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// refused says err is a connected UDP socket's report of an ICMP port
// unreachable: nothing listens on the server's port now (it is restarting,
// say). A NAS keeps trying, so it counts as no answer, not as a failure.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// await reads answers until one is the Accounting-Response to wire or the
// timeout passes (os.ErrDeadlineExceeded).
func (s *acctSocket) await(ctx context.Context, wire []byte) error {
	deadline, ctxDeadline := time.Now().Add(s.o.Timeout), false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
	}
	if err := s.conn.SetReadDeadline(deadline); err != nil {
		return fail(CauseNetwork, err)
	}
	stop := context.AfterFunc(ctx, func() { s.conn.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		m, err := s.conn.Read(s.buf)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			if ctx.Err() != nil {
				return fail(CauseCancelled, ctx.Err())
			}
			if ctxDeadline {
				return fail(CauseCancelled, context.DeadlineExceeded)
			}
			return err
		case refused(err):
			continue // wait out the timeout, then retransmit
		default:
			return fail(CauseNetwork, err)
		}
		b := s.buf[:m]
		if m < radiusHeaderLen || b[1] != wire[1] {
			continue // a late answer to an earlier record
		}
		n := int(b[2])<<8 | int(b[3])
		if n < radiusHeaderLen || n > m {
			return fail(CauseProtocol, fmt.Errorf("loadgen: answer of %d bytes says Length %d", m, n))
		}
		b = b[:n]
		// Response Authenticator: MD5(Code+Identifier+Length+Request
		// Authenticator+Attributes+Secret).
		if !radius.IsAuthenticResponse(b, wire, s.o.Secret) {
			return fail(CauseResponseAuthenticator, errors.New("loadgen: Accounting-Response authenticator does not match"))
		}
		if code := radius.Code(b[0]); code != radius.CodeAccountingResponse {
			return fail(CauseProtocol, fmt.Errorf("loadgen: %v to an Accounting-Request", code))
		}
		return checkAcctMessageAuthenticator(b, s.o.Secret)
	}
}

// checkAcctMessageAuthenticator checks an Accounting-Response's
// Message-Authenticator when it has one (RFC 2866 does not ask for it).
// It is computed with the Authenticator field zeroed, as in the
// Accounting-Request, which is how FreeRADIUS signs and checks it.
func checkAcctMessageAuthenticator(b, secret []byte) error {
	off, _, err := findMessageAuthenticator(b)
	switch {
	case err != nil:
		return fail(CauseProtocol, err)
	case off < 0:
		return nil
	}
	var zero [16]byte
	want := messageAuthenticator(b, off, zero, secret)
	if !hmac.Equal(want[:], b[off:off+msgAuthLen]) {
		return fail(CauseMsgAuthInvalid, errMsgAuthInvalid)
	}
	return nil
}
