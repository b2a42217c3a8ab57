package radiusd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"keycard/sessions"
	"keycard/vouchers"
)

// The enforcer makes an ended stay end on the air. The hotel domain says
// who must go (vouchers.DueForCheckout: stays past check-out or ended by
// staff, revoked devices); the session store says where each of those
// devices is online; the DAS client tells each access point to drop it
// (RFC 5176 Disconnect-Request). It wakes:
//
//   - at the next check-out, to the second, on a timer set from
//     Hotel.NextCheckout (not a coarse poll);
//   - when the audit log, Keycard's change feed, grows (Changed): a stay
//     ended or a device revoked by the CLI or the front desk in another
//     process reaches the running server as fast as the feed is watched;
//   - every sweepInterval, as a safety net.
//
// A device is marked disconnected (MarkDisconnected) once every one of its
// open sessions was dealt with, so each departure is handled once. A stay
// extension sends CoA-Request with the new Session-Timeout to the NAS
// clients that accept CoA.

// Hotel is what the enforcer asks the hotel domain; *vouchers.Store is one.
type Hotel interface {
	DueForCheckout(ctx context.Context, now time.Time) ([]vouchers.Departure, error)
	MarkDisconnected(ctx context.Context, deviceID int64, now time.Time) error
	NextCheckout(ctx context.Context, after time.Time) (time.Time, bool, error)
	AuditHead(ctx context.Context) (count int64, hash string, err error)
	AuditSince(ctx context.Context, afterID int64, limit int) ([]vouchers.AuditEntry, error)
	Stay(ctx context.Context, id int64) (vouchers.Stay, error)
	Device(ctx context.Context, id int64) (vouchers.Device, error)
}

// SessionStore is what the enforcer reads and writes of the sessions;
// *sessions.Store is one.
type SessionStore interface {
	List(ctx context.Context, f sessions.Filter) ([]sessions.Session, error)
	Record(ctx context.Context, rec sessions.Record) (sessions.Session, error)
	RecordDisconnect(ctx context.Context, id int64, at time.Time, outcome string) error
}

// NASDirectory finds a NAS client by name; *NASStore is one.
type NASDirectory interface {
	ByName(name string) (NAS, bool)
}

// DynamicAuthorizer sends RFC 5176 requests; *DASClient is one.
type DynamicAuthorizer interface {
	Disconnect(ctx context.Context, t DASTarget, ref SessionRef) (DASResult, error)
	CoA(ctx context.Context, t DASTarget, ref SessionRef, sessionTimeout time.Duration) (DASResult, error)
}

// EnforcerConfig wires an Enforcer.
type EnforcerConfig struct {
	Hotel    Hotel
	Sessions SessionStore
	NAS      NASDirectory
	DAS      DynamicAuthorizer
	// MaxSessionTimeout caps the Session-Timeout a CoA sets after an
	// extension, as for an Access-Accept (default 4h; negative: no cap).
	MaxSessionTimeout time.Duration
	Parallel          int // Disconnect-Requests in flight at once; default 256
	// OnChange, when set, sees every batch of new audit entries Changed
	// reads (serve reloads the NAS clients on a nas.* entry).
	OnChange func(ctx context.Context, entries []vouchers.AuditEntry)
	Now      func() time.Time
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// sweepInterval is the safety net: how often the enforcer looks for
// departures even when nothing woke it.
const sweepInterval = time.Minute

// Enforcer disconnects the devices that must go. Run drives it.
type Enforcer struct {
	cfg     EnforcerConfig
	log     *slog.Logger
	wake    chan struct{}
	sem     chan struct{}
	outcome *prometheus.CounterVec // reason, outcome

	mu        sync.Mutex
	inflight  map[int64]bool // devices being disconnected
	auditID   int64          // the last audit entry seen
	following bool           // auditID is set: what came before is not replayed
	started   bool
	wg        sync.WaitGroup
}

// NewEnforcer checks cfg and returns an Enforcer ready to Run.
func NewEnforcer(cfg EnforcerConfig) (*Enforcer, error) {
	switch {
	case cfg.Hotel == nil:
		return nil, errors.New("radiusd: enforcer without a Hotel")
	case cfg.Sessions == nil:
		return nil, errors.New("radiusd: enforcer without a SessionStore")
	case cfg.NAS == nil:
		return nil, errors.New("radiusd: enforcer without a NASDirectory")
	case cfg.DAS == nil:
		return nil, errors.New("radiusd: enforcer without a DynamicAuthorizer")
	}
	if cfg.MaxSessionTimeout == 0 {
		cfg.MaxSessionTimeout = defaultMaxSessionTimeout
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 256
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	e := &Enforcer{
		cfg:      cfg,
		log:      cfg.Logger,
		wake:     make(chan struct{}, 1),
		sem:      make(chan struct{}, cfg.Parallel),
		inflight: map[int64]bool{},
		outcome: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keycard_checkout_disconnects_total",
			Help: "Sessions the enforcer asked a NAS to drop (or, after an extension, to update), by reason and outcome.",
		}, []string{"reason", "outcome"}),
	}
	if err := cfg.Registry.Register(e.outcome); err != nil {
		return nil, fmt.Errorf("radiusd: enforcer metrics: %w", err)
	}
	return e, nil
}

// Run enforces until ctx ends, then waits for the requests in flight.
func (e *Enforcer) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("radiusd: Enforcer.Run called twice")
	}
	e.started = true
	e.mu.Unlock()
	defer e.wg.Wait()
	e.follow(ctx)
	safety := time.NewTicker(sweepInterval)
	defer safety.Stop()
	for {
		e.sweep(ctx)
		var checkout <-chan time.Time
		now := e.cfg.Now()
		if next, ok, err := e.cfg.Hotel.NextCheckout(ctx, now); err != nil {
			if ctx.Err() == nil {
				e.log.Error("radiusd: enforcer: next check-out", "err", err)
			}
		} else if ok {
			t := time.NewTimer(next.Sub(now))
			defer t.Stop()
			checkout = t.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-checkout:
		case <-e.wake:
		case <-safety.C:
		}
	}
}

// poke makes Run sweep now.
func (e *Enforcer) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Changed reads the audit entries written since the last call and acts on
// them: a stay ended, a device revoked or anything else that may change who
// must go wakes the sweep; a stay extended updates its live sessions. It is
// the callback of the change feed (store.Watch).
func (e *Enforcer) Changed(ctx context.Context) {
	if !e.follow(ctx) {
		return
	}
	e.mu.Lock()
	after := e.auditID
	e.mu.Unlock()
	entries, err := e.cfg.Hotel.AuditSince(ctx, after, 1000)
	if err != nil || len(entries) == 0 {
		return
	}
	e.mu.Lock()
	e.auditID = entries[len(entries)-1].ID
	e.mu.Unlock()
	e.poke()
	if e.cfg.OnChange != nil {
		e.cfg.OnChange(ctx, entries)
	}
	for _, en := range entries {
		if en.Action != "stay.extend" {
			continue
		}
		if id, ok := refID(en.Subject, "stay:"); ok {
			e.extend(ctx, id)
		}
	}
	if len(entries) == 1000 {
		e.Changed(ctx) // more to read
	}
}

// follow starts following the audit log from its head, once: what
// happened before the enforcer started is not replayed (the first sweep
// finds whoever must go anyway). It reports whether the enforcer follows
// the log.
func (e *Enforcer) follow(ctx context.Context) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.following {
		return true
	}
	n, _, err := e.cfg.Hotel.AuditHead(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("radiusd: enforcer: audit head", "err", err)
		}
		return false
	}
	e.auditID, e.following = n, true
	return true
}

func refID(subject, prefix string) (int64, bool) {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// sweep starts the disconnection of every device due now that is not
// already being disconnected.
func (e *Enforcer) sweep(ctx context.Context) {
	now := e.cfg.Now()
	due, err := e.cfg.Hotel.DueForCheckout(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("radiusd: enforcer: who must go", "err", err)
		}
		return
	}
	for _, dep := range due {
		for _, d := range dep.Devices {
			e.mu.Lock()
			busy := e.inflight[d.ID]
			e.inflight[d.ID] = true
			e.mu.Unlock()
			if busy {
				continue
			}
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer func() {
					e.mu.Lock()
					delete(e.inflight, d.ID)
					e.mu.Unlock()
				}()
				e.depart(ctx, dep.Stay, d, dep.Reason)
			}()
		}
	}
}

// depart disconnects every open session of device d, then marks it.
func (e *Enforcer) depart(ctx context.Context, stay vouchers.Stay, d vouchers.Device, reason vouchers.Reason) {
	open, err := e.cfg.Sessions.List(ctx, sessions.Filter{DeviceID: d.ID})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("radiusd: enforcer: sessions of a departing device", "device", d.ID, "err", err)
		}
		return // the next sweep tries again
	}
	var wg sync.WaitGroup
	for _, sess := range open {
		wg.Go(func() {
			if _, err := e.disconnect(ctx, sess, string(reason)); err != nil && ctx.Err() == nil {
				e.log.Error("radiusd: enforcer: disconnect", "session", sess.ID, "err", err)
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // unmarked: the next start deals with it
	}
	// Marked whatever the NAS answered: the device is refused from now on
	// anyway, and its Session-Timeout (capped) ends the session at the
	// latest. The outcome of each session is on the session.
	if err := e.cfg.Hotel.MarkDisconnected(ctx, d.ID, e.cfg.Now()); err != nil && ctx.Err() == nil {
		e.log.Error("radiusd: enforcer: mark disconnected", "device", d.ID, "err", err)
	}
	e.log.Info("radiusd: device departed", "stay", stay.ID, "device", d.ID, "reason", string(reason), "sessions", len(open))
}

// SessionSeen checks a session the accounting listener just recorded: a
// device whose stay is over or that was revoked, yet whose NAS reports it
// online (it authenticated just before the change, or its NAS ignored an
// earlier Disconnect), is disconnected now. It returns at once; the
// Disconnect runs in the background.
func (e *Enforcer) SessionSeen(ctx context.Context, sess sessions.Session) {
	if !sess.Open() || sess.DeviceID == 0 {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		d, err := e.cfg.Hotel.Device(ctx, sess.DeviceID)
		if err != nil {
			return
		}
		st, err := e.cfg.Hotel.Stay(ctx, d.StayID)
		if err != nil {
			return
		}
		var reason vouchers.Reason
		switch {
		case d.RevokedAt != nil:
			reason = vouchers.ReasonRevoked
		case st.Over(e.cfg.Now()):
			reason = vouchers.ReasonStayEnded
		default:
			return
		}
		if _, err := e.disconnect(ctx, sess, string(reason)); err != nil && ctx.Err() == nil {
			e.log.Error("radiusd: enforcer: disconnect", "session", sess.ID, "err", err)
		}
	}()
}

// KickDevice disconnects every open session of a device, in the
// background (a simultaneous-use policy making room for another device).
func (e *Enforcer) KickDevice(ctx context.Context, deviceID int64, reason string) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		open, err := e.cfg.Sessions.List(ctx, sessions.Filter{DeviceID: deviceID})
		if err != nil {
			e.log.Error("radiusd: enforcer: sessions of a device", "device", deviceID, "err", err)
			return
		}
		for _, sess := range open {
			if _, err := e.disconnect(ctx, sess, reason); err != nil && ctx.Err() == nil {
				e.log.Error("radiusd: enforcer: disconnect", "session", sess.ID, "err", err)
			}
		}
	}()
}

// Kick asks the session's NAS to drop it (keycard session kick, a
// simultaneous-use policy) and records the outcome on the session.
func (e *Enforcer) Kick(ctx context.Context, sess sessions.Session, reason string) (DASResult, error) {
	return e.disconnect(ctx, sess, reason)
}

// disconnect sends one Disconnect-Request and records the outcome. A NAS
// that no longer knows the session (Disconnect-NAK, Error-Cause 503) has
// dropped it already: the session is closed in the store.
func (e *Enforcer) disconnect(ctx context.Context, sess sessions.Session, reason string) (DASResult, error) {
	target, ref, err := e.target(sess)
	if err != nil {
		e.outcome.WithLabelValues(reason, "error").Inc()
		e.record(ctx, sess, err.Error())
		return DASResult{}, err
	}
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return DASResult{}, ctx.Err()
	}
	res, err := e.cfg.DAS.Disconnect(ctx, target, ref)
	<-e.sem
	e.outcome.WithLabelValues(reason, string(res.Outcome)).Inc()
	text := describeOutcome(res, err)
	e.record(ctx, sess, text)
	if res.Outcome == DASNotFound {
		if _, err := e.cfg.Sessions.Record(ctx, sessions.Record{Kind: sessions.Stop, NAS: sess.NAS,
			AcctSessionID: sess.AcctSessionID, At: e.cfg.Now(), TerminateCause: "Admin-Reset"}); err != nil && ctx.Err() == nil {
			e.log.Error("radiusd: enforcer: close a session the NAS no longer knows", "session", sess.ID, "err", err)
		}
	}
	e.log.Info("radiusd: disconnect", "session", sess.ID, "stay", sess.StayID, "device", sess.DeviceID, "nas", sess.NAS,
		"acct_session_id", sess.AcctSessionID, "reason", reason, "outcome", text, "attempts", res.Attempts)
	return res, err
}

func (e *Enforcer) record(ctx context.Context, sess sessions.Session, outcome string) {
	if err := e.cfg.Sessions.RecordDisconnect(ctx, sess.ID, e.cfg.Now(), outcome); err != nil && ctx.Err() == nil {
		e.log.Error("radiusd: enforcer: record the outcome", "session", sess.ID, "err", err)
	}
}

// describeOutcome is what the session and the log say of a DAS answer.
func describeOutcome(res DASResult, err error) string {
	switch res.Outcome {
	case DASAck:
		return "ack"
	case DASNotFound:
		return "closed (session not found at the NAS)"
	case DASNAK:
		return fmt.Sprintf("nak (Error-Cause %d)", res.ErrorCause)
	case DASNoAnswer:
		return fmt.Sprintf("no answer after %d attempts", res.Attempts)
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return string(res.Outcome)
}

// target is where the session's Disconnect goes and what names it.
func (e *Enforcer) target(sess sessions.Session) (DASTarget, SessionRef, error) {
	nas, ok := e.cfg.NAS.ByName(sess.NAS)
	if !ok {
		return DASTarget{}, SessionRef{}, fmt.Errorf("NAS %q is no longer configured", sess.NAS)
	}
	addr := sess.NASAddress
	if !addr.IsValid() {
		addr = nas.Network.Addr()
	}
	return DASTarget{NAS: nas, Addr: addr}, SessionRef{
		UserName:         sess.UserName,
		AcctSessionID:    sess.AcctSessionID,
		CallingStationID: sess.CallingStationID,
		NASIdentifier:    sess.NASIdentifier,
		NASIPAddress:     sess.NASIPAddress,
		NASIPv6Address:   sess.NASIPv6Address,
	}, nil
}

// extend sends the stay's live sessions their new Session-Timeout (CoA),
// on the NAS clients that accept CoA.
func (e *Enforcer) extend(ctx context.Context, stayID int64) {
	stay, err := e.cfg.Hotel.Stay(ctx, stayID)
	if err != nil {
		return
	}
	now := e.cfg.Now()
	if stay.Over(now) {
		return
	}
	left := stay.CheckOut.Sub(now).Truncate(time.Second)
	if max := e.cfg.MaxSessionTimeout; max > 0 && left > max {
		left = max
	}
	open, err := e.cfg.Sessions.List(ctx, sessions.Filter{StayID: stayID})
	if err != nil {
		return
	}
	for _, sess := range open {
		target, ref, err := e.target(sess)
		if err != nil || !target.NAS.CoA {
			continue
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			res, err := e.cfg.DAS.CoA(ctx, target, ref, left)
			e.outcome.WithLabelValues("stay extended", string(res.Outcome)).Inc()
			text := "coa " + describeOutcome(res, err)
			e.record(ctx, sess, text)
			e.log.Info("radiusd: CoA after extension", "session", sess.ID, "stay", stayID, "nas", sess.NAS,
				"session_timeout", int64(left/time.Second), "outcome", text)
		}()
	}
}
