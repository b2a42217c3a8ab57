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

	mu        sync.Mutex
	listening bool
	conns     []*net.UDPConn
	queue     chan job
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
		secrets: newSecretKeys(),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		delayed: newDelayedSends(),
	}
	var err error
	if s.policy, err = newTLSPolicy(&s.cfg, &s.deps); err != nil {
		return nil, err
	}
	if s.cfg.FragmentSize > maxFragmentSize {
		s.logger.Warn("radiusd: fragment size lowered to fit a RADIUS packet", "configured", s.cfg.FragmentSize, "used", maxFragmentSize)
		s.cfg.FragmentSize = maxFragmentSize
	}
	s.conversations = newConversations(cfg.EAPSessions, cfg.EAPTimeout, deps.Rand)
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
	return s, nil
}

// Listen opens a UDP socket on every address in Config.AuthListen.
// ListenAndServe calls it when it has not been called; calling it first
// lets the caller learn the addresses (Addrs) before serving.
func (s *Server) Listen(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listening {
		return nil
	}
	var lc net.ListenConfig
	for _, addr := range s.cfg.AuthListen {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			for _, c := range s.conns {
				c.Close()
			}
			s.conns = nil
			return fmt.Errorf("radiusd: listen on %s: %w", addr, err)
		}
		s.conns = append(s.conns, pc.(*net.UDPConn))
	}
	s.listening = true
	return nil
}

// Addrs returns the addresses listened on, after Listen.
func (s *Server) Addrs() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.AddrPort, 0, len(s.conns))
	for _, c := range s.conns {
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
	conns := s.conns
	s.queue = make(chan job, queueLength(s.cfg.Workers))
	s.mu.Unlock()

	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if w, ok := s.deps.NAS.(interface {
		Watch(context.Context, time.Duration)
	}); ok {
		go w.Watch(base, nasWatchInterval)
	}

	var workers sync.WaitGroup
	for range s.cfg.Workers {
		workers.Go(func() { s.work(base) })
	}
	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Go(func() { s.read(c) })
	}
	for _, c := range conns {
		s.logger.Info("radiusd: listening", "addr", c.LocalAddr().String())
	}

	select {
	case <-ctx.Done():
		s.stop()
	case <-s.closing:
	}
	readers.Wait() // sockets closed: nothing more is read
	close(s.queue) // workers finish what was queued
	workers.Wait()
	s.conversations.closeAll() // EAP conversations in flight end with the server
	s.delayed.flush()          // delayed rejects go out now
	for _, c := range conns {
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
		for _, c := range s.conns {
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
		for _, c := range s.conns {
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
