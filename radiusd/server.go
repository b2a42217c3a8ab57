package radiusd

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// nasWatchInterval is how often ListenAndServe looks for NAS changes made
// by another process, when Deps.NAS can watch.
const nasWatchInterval = 10 * time.Second

// maxFragmentSize is the most TLS data per EAP-TLS packet that still fits
// an Access-Challenge within 4096 bytes, with room for the RADIUS header,
// Message-Authenticator, State, EAP-Message attribute headers and the
// NAS's Proxy-State.
const maxFragmentSize = 3500

// socketReadBuffer is the receive buffer asked for each UDP socket: about
// 100 ms of a 20,000 packets/s flood, so a reader that waits a few
// milliseconds for a CPU (GC, a busy host) does not lose datagrams in the
// kernel before it can count them.
const socketReadBuffer = 4 << 20

// queueLength is how many received datagrams may wait for a worker: enough
// for a burst (a roomful of devices roaming at once), bounded in memory
// (4096 datagrams of at most 4 KiB).
func queueLength(workers int) int { return min(max(16*workers, 256), 4096) }

// Server is the RADIUS authentication server.
type Server struct {
	cfg     Config
	deps    Deps
	logger  *slog.Logger
	metrics *metrics
	drops   *dropLog

	policy        *tlsPolicy
	conversations *conversations
	replies       *replyCache
	secrets       *secretKeys
	handler       handler // the auth-port pipeline
	accessRequest handler // behind the reply cache
	acctReplies   *replyCache
	acct          handler // the accounting-port pipeline

	mu        sync.Mutex
	listening bool
	conns     []*net.UDPConn // authentication
	acctConns []*net.UDPConn // accounting
	queue     chan job       // Access-Requests starting a conversation, Status-Server
	resume    chan job       // Access-Requests continuing one (with a State): served first
	acctQueue chan job
	closing   chan struct{} // closed by Shutdown
	done      chan struct{} // closed when serving has stopped
	delayed   *delayedSends
	stopOnce  sync.Once
}

// New checks cfg (zero fields take defaults) and deps and returns a Server
// ready to ListenAndServe.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.init()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.NAS == nil {
		return nil, errors.New("radiusd: no NAS clients (Deps.NAS)")
	}
	if deps.Authorizer == nil {
		return nil, errors.New("radiusd: no Authorizer")
	}
	if len(cfg.AcctListen) > 0 && deps.Accounting == nil {
		return nil, errors.New("radiusd: accounting listen addresses but no Accounting store (Deps.Accounting)")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Rand == nil {
		deps.Rand = rand.Reader
	}
	s := &Server{
		cfg:     cfg,
		deps:    deps,
		logger:  deps.Logger,
		drops:   newDropLog(deps.Logger, deps.Now),
		replies: newReplyCache(cfg.ReplyCacheSize, cfg.ReplyCacheTTL),
		// An Accounting-Request is one packet, not a conversation: the
		// cache needs room for what arrives within its TTL at the design
		// load, not for EAP rounds.
		acctReplies: newReplyCache(cfg.ReplyCacheSize, cfg.ReplyCacheTTL),
		secrets:     newSecretKeys(),
		closing:     make(chan struct{}),
		done:        make(chan struct{}),
		delayed:     newDelayedSends(),
	}
	var err error
	if s.policy, err = newTLSPolicy(&s.cfg, &s.deps); err != nil {
		return nil, err
	}
	if s.cfg.FragmentSize > maxFragmentSize {
		s.logger.Warn("radiusd: fragment size lowered to fit a RADIUS packet", "configured", s.cfg.FragmentSize, "used", maxFragmentSize)
		s.cfg.FragmentSize = maxFragmentSize
	}
	if s.conversations, err = newConversations(cfg.EAPSessions, cfg.EAPTimeout, deps.Rand); err != nil {
		return nil, err
	}
	var optOuts func() float64
	if store, ok := deps.NAS.(*NASStore); ok {
		store.SetLogger(deps.Logger)
		optOuts = func() float64 { return float64(store.MessageAuthenticatorOptOuts()) }
	}
	s.metrics, err = newMetrics(deps.Registry, func() float64 { return float64(s.conversations.len()) }, optOuts)
	if err != nil {
		return nil, err
	}
	s.accessRequest = chain(handlerFunc(s.serveEAP), s.withReplyCache)
	s.handler = s.authHandler()
	s.acct = s.acctHandler()
	return s, nil
}

// Listen opens a UDP socket on every address in Config.AuthListen and
// Config.AcctListen.
// ListenAndServe calls it when it has not been called; calling it first
// lets the caller learn the addresses (Addrs) before serving.
func (s *Server) Listen(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listening {
		return nil
	}
	var lc net.ListenConfig
	open := func(addrs []string, what string) ([]*net.UDPConn, error) {
		var conns []*net.UDPConn
		for _, addr := range addrs {
			pc, err := lc.ListenPacket(ctx, "udp", addr)
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return nil, fmt.Errorf("radiusd: listen for %s on %s: %w", what, addr, err)
			}
			c := pc.(*net.UDPConn)
			// Room for a burst while the reader waits for a CPU (the
			// kernel caps it at net.core.rmem_max).
			if err := c.SetReadBuffer(socketReadBuffer); err != nil {
				s.logger.Warn("radiusd: socket receive buffer", "addr", addr, "err", err)
			}
			conns = append(conns, c)
		}
		return conns, nil
	}
	auth, err := open(s.cfg.AuthListen, "authentication")
	if err != nil {
		return err
	}
	acct, err := open(s.cfg.AcctListen, "accounting")
	if err != nil {
		for _, c := range auth {
			c.Close()
		}
		return err
	}
	s.conns, s.acctConns = auth, acct
	s.listening = true
	return nil
}

// Addrs returns the authentication addresses listened on, after Listen.
func (s *Server) Addrs() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return addrsOf(s.conns)
}

// AcctAddrs returns the accounting addresses listened on, after Listen.
func (s *Server) AcctAddrs() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return addrsOf(s.acctConns)
}

func addrsOf(conns []*net.UDPConn) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	return out
}

// ListenAndServe serves on every address in Config.AuthListen until ctx
// ends or Shutdown is called; then it stops gracefully and returns nil. It
// returns an error when a socket cannot be opened.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.Listen(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	if s.queue != nil {
		s.mu.Unlock()
		return errors.New("radiusd: ListenAndServe called twice")
	}
	conns, acctConns := s.conns, s.acctConns
	s.queue = make(chan job, queueLength(s.cfg.Workers))
	s.resume = make(chan job, queueLength(s.cfg.Workers))
	s.acctQueue = make(chan job, queueLength(s.cfg.AcctWorkers))
	s.mu.Unlock()

	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if w, ok := s.deps.NAS.(interface {
		Watch(context.Context, time.Duration)
	}); ok {
		go w.Watch(base, nasWatchInterval)
	}

	var workers, acctWorkers sync.WaitGroup
	for range s.cfg.Workers {
		workers.Go(func() { s.workAuth(base, s.resume, s.queue, s.handler) })
	}
	if len(acctConns) > 0 {
		// Accounting workers mostly wait for their record's commit: many
		// of them let one commit carry many records (group commit).
		for range s.cfg.AcctWorkers {
			acctWorkers.Go(func() { s.work(base, s.acctQueue, s.acct) })
		}
	}
	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Go(func() { s.read(c, s.authQueue) })
	}
	acctQueue := func([]byte) chan<- job { return s.acctQueue }
	for _, c := range acctConns {
		readers.Go(func() { s.read(c, acctQueue) })
	}
	for _, c := range conns {
		s.logger.Info("radiusd: listening", "addr", c.LocalAddr().String(), "for", "authentication")
	}
	for _, c := range acctConns {
		s.logger.Info("radiusd: listening", "addr", c.LocalAddr().String(), "for", "accounting")
	}

	select {
	case <-ctx.Done():
		s.stop()
	case <-s.closing:
	}
	readers.Wait() // sockets closed: nothing more is read
	close(s.queue) // workers finish what was queued
	close(s.resume)
	close(s.acctQueue)
	workers.Wait()
	acctWorkers.Wait()         // every record queued is committed and answered
	s.conversations.closeAll() // EAP conversations in flight end with the server
	s.delayed.flush()          // delayed rejects go out now
	for _, c := range append(conns, acctConns...) {
		c.Close()
	}
	close(s.done)
	return nil
}

// stop makes the readers return: the sockets' read deadline passes. The
// sockets stay open for the answers still to be sent.
func (s *Server) stop() {
	s.stopOnce.Do(func() {
		close(s.closing)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range append(s.conns, s.acctConns...) {
			c.SetReadDeadline(time.Unix(1, 0))
		}
	})
}

// SetServerCertificate replaces the RADIUS server certificate (a renewal)
// for every handshake that starts from now on.
func (s *Server) SetServerCertificate(c tls.Certificate) error {
	if len(c.Certificate) == 0 || c.PrivateKey == nil {
		return errors.New("radiusd: no server certificate")
	}
	s.policy.setServerCertificate(c)
	return nil
}

// Shutdown stops reading, lets the requests in progress finish, sends any
// delayed rejects at once and closes the sockets. It returns when that is
// done or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	listening := s.listening && s.queue != nil
	s.mu.Unlock()
	s.stop()
	if !listening {
		s.mu.Lock()
		for _, c := range append(s.conns, s.acctConns...) {
			c.Close()
		}
		s.mu.Unlock()
		return nil
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
