package webhooks

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for DispatcherConfig.
const (
	DefaultMaxAttempts = 15
	DefaultMaxInFlight = 4
	DefaultBackoffBase = 10 * time.Second
	DefaultBackoffMax  = time.Hour
	DefaultRetention   = 30 * 24 * time.Hour
)

// DispatcherConfig wires a Dispatcher.
type DispatcherConfig struct {
	Endpoints []Endpoint
	// Client sends the requests; default NewClient(Timeout). A client
	// without a CheckRedirect gets NewClient's rule: no redirect to
	// another host is ever followed.
	Client *http.Client
	// Timeout bounds one attempt (default DefaultTimeout).
	Timeout time.Duration
	// MaxAttempts is how many times a delivery is tried before it is
	// marked failed (default 15: with the default backoff, about six
	// hours of retrying).
	MaxAttempts int
	// Backoff is the wait after the n-th failed attempt (n from 1);
	// default ExponentialBackoff(DefaultBackoffBase, DefaultBackoffMax). A
	// Retry-After answer may ask for longer, up to an hour.
	Backoff func(n int) time.Duration
	// MaxInFlight bounds the attempts in flight to one endpoint (default
	// 4), so a slow receiver neither holds up the others nor is flooded.
	MaxInFlight int
	// Retention is how long events whose deliveries are all over
	// (delivered or failed) stay in the outbox, visible (default 30 days).
	Retention time.Duration
	Now       func() time.Time // default time.Now
	Logger    *slog.Logger     // default discards
}

// ExponentialBackoff waits base after the first failed attempt and twice
// as long after each one after it, up to max.
func ExponentialBackoff(base, max time.Duration) func(n int) time.Duration {
	return func(n int) time.Duration {
		d := base
		for i := 1; i < n && d < max; i++ {
			d *= 2
		}
		return min(d, max)
	}
}

// maxRetryAfter caps how long an endpoint's Retry-After may defer a retry.
const maxRetryAfter = time.Hour

// sweepInterval is the safety net: how often each endpoint looks for due
// deliveries even when nothing woke it (another Keycard node enqueued).
const sweepInterval = time.Minute

// pruneInterval is how often old events are removed.
const pruneInterval = time.Hour

// Dispatcher delivers the outbox to the endpoints. Run drives it;
// DeliverDue does one round (tests, with an injected clock).
type Dispatcher struct {
	db        *sql.DB
	cfg       DispatcherConfig
	log       *slog.Logger
	client    *http.Client
	endpoints []*endpoint

	mu      sync.Mutex
	started bool
}

// endpoint is one Endpoint's delivery state in memory.
type endpoint struct {
	Endpoint
	wake chan struct{}
}

// NewDispatcher checks cfg and returns a Dispatcher on db, whose tables
// Migrate has created.
func NewDispatcher(db *sql.DB, cfg DispatcherConfig) (*Dispatcher, error) {
	if db == nil {
		return nil, errors.New("webhooks: dispatcher without a database")
	}
	if err := checkEndpoints(cfg.Endpoints); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Backoff == nil {
		cfg.Backoff = ExponentialBackoff(DefaultBackoffBase, DefaultBackoffMax)
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	client := NewClient(cfg.Timeout)
	if cfg.Client != nil {
		c := *cfg.Client
		if c.CheckRedirect == nil {
			c.CheckRedirect = sameHostRedirect
		}
		client = &c
	}
	d := &Dispatcher{db: db, cfg: cfg, log: cfg.Logger, client: client}
	for _, ep := range cfg.Endpoints {
		d.endpoints = append(d.endpoints, &endpoint{Endpoint: ep, wake: make(chan struct{}, 1)})
	}
	return d, nil
}

// Poke tells the dispatcher that new deliveries may be due (Feed's
// OnEnqueue).
func (d *Dispatcher) Poke() {
	for _, ep := range d.endpoints {
		select {
		case ep.wake <- struct{}{}:
		default:
		}
	}
}

// Run delivers until ctx ends, then waits for the attempts in flight
// (cancelled with ctx: an interrupted attempt counts, and is retried at
// the next start). At the start every pending delivery is made due at
// once: a restart is when whatever stopped them (a receiver, the network)
// has likely been fixed.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return errors.New("webhooks: Dispatcher.Run called twice")
	}
	d.started = true
	d.mu.Unlock()
	if err := d.retryNow(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, ep := range d.endpoints {
		wg.Go(func() { d.runEndpoint(ctx, ep) })
	}
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	for {
		if _, err := d.Prune(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("webhooks: prune the outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-prune.C:
		}
	}
}

// retryNow makes the pending deliveries of the configured endpoints due
// now.
func (d *Dispatcher) retryNow(ctx context.Context) error {
	now := dbTime(d.cfg.Now())
	for _, ep := range d.endpoints {
		if _, err := d.db.ExecContext(ctx,
			`UPDATE webhook_deliveries SET next_attempt_at = ?
			 WHERE endpoint = ? AND state = ? AND next_attempt_at > ?`, now, ep.URL, StatePending, now); err != nil {
			return fmt.Errorf("webhooks: retry pending deliveries: %w", err)
		}
	}
	return nil
}

func (d *Dispatcher) runEndpoint(ctx context.Context, ep *endpoint) {
	safety := time.NewTicker(sweepInterval)
	defer safety.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		d.deliver(ctx, ep)
		if ctx.Err() != nil {
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		next, ok, err := d.nextAttempt(ctx, ep)
		if err != nil && ctx.Err() == nil {
			d.log.Error("webhooks: next delivery", "endpoint", ep, "err", err)
		}
		if ok {
			timer.Reset(max(0, next.Sub(d.cfg.Now())))
		}
		select {
		case <-ctx.Done():
			return
		case <-ep.wake:
		case <-timer.C:
		case <-safety.C:
		}
	}
}

// nextAttempt is when ep's next pending delivery is due.
func (d *Dispatcher) nextAttempt(ctx context.Context, ep *endpoint) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := d.db.QueryRowContext(ctx,
		`SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE endpoint = ? AND state = ?`,
		ep.URL, StatePending).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("webhooks: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return fromDB(next.Int64), true, nil
}

// DeliverDue makes one attempt at every delivery due now (by the
// configured clock), each endpoint's at most MaxInFlight at once, and
// returns when none is due and none is in flight, with the number of
// attempts made. A failed attempt is due again after its backoff, so with
// a clock that does not move each delivery is tried once.
func (d *Dispatcher) DeliverDue(ctx context.Context) int {
	var total int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ep := range d.endpoints {
		wg.Go(func() {
			n := d.deliver(ctx, ep)
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return total
}

// deliver is DeliverDue for one endpoint.
func (d *Dispatcher) deliver(ctx context.Context, ep *endpoint) int {
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan struct{}, d.cfg.MaxInFlight)
	inflight, total := 0, 0
	for {
		if free := d.cfg.MaxInFlight - inflight; free > 0 && ctx.Err() == nil {
			batch, err := d.claim(ctx, ep, free)
			if err != nil && ctx.Err() == nil {
				d.log.Error("webhooks: claim deliveries", "endpoint", ep, "err", err)
			}
			for _, c := range batch {
				inflight++
				total++
				wg.Go(func() {
					d.attempt(ctx, ep, c)
					done <- struct{}{}
				})
			}
			if len(batch) > 0 {
				continue // there may be more due
			}
		}
		if inflight == 0 {
			return total
		}
		<-done // attempts end when ctx does
		inflight--
	}
}

// claimed is one delivery taken for an attempt.
type claimed struct {
	rowID   int64 // webhook_events.id
	eventID string
	typ     string
	body    []byte
	attempt int // this attempt's number, from 1
}

// claim takes up to n of ep's due deliveries: each one's attempts count up
// and its next attempt moves past this one (a lease), in one transaction,
// before anything is sent. A crash mid-attempt leaves the delivery pending
// and due after the lease, and the attempt counted, so a receiver that
// crashes Keycard cannot be retried forever. Another Keycard node on the
// same database cannot take the same attempt: the update checks the
// attempts it read.
func (d *Dispatcher) claim(ctx context.Context, ep *endpoint, n int) ([]claimed, error) {
	now := d.cfg.Now()
	var out []claimed
	err := inTx(ctx, d.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx,
			`SELECT e.id, e.event_id, e.type, e.body, w.attempts
			 FROM webhook_deliveries w JOIN webhook_events e ON e.id = w.event_id
			 WHERE w.endpoint = ? AND w.state = ? AND w.next_attempt_at <= ?
			 ORDER BY w.next_attempt_at, w.event_id LIMIT ?`,
			ep.URL, StatePending, dbTime(now), n)
		if err != nil {
			return fmt.Errorf("webhooks: due deliveries: %w", err)
		}
		var due []claimed
		for rows.Next() {
			var c claimed
			var body string
			if err := rows.Scan(&c.rowID, &c.eventID, &c.typ, &body, &c.attempt); err != nil {
				rows.Close()
				return fmt.Errorf("webhooks: due deliveries: %w", err)
			}
			c.body = []byte(body)
			due = append(due, c)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("webhooks: due deliveries: %w", err)
		}
		for _, c := range due {
			lease := now.Add(d.cfg.Timeout + d.cfg.Backoff(c.attempt+1))
			res, err := tx.ExecContext(ctx,
				`UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?, next_attempt_at = ?
				 WHERE event_id = ? AND endpoint = ? AND state = ? AND attempts = ?`,
				dbTime(now), dbTime(lease), c.rowID, ep.URL, StatePending, c.attempt)
			if err != nil {
				return fmt.Errorf("webhooks: claim %s: %w", c.eventID, err)
			}
			if k, _ := res.RowsAffected(); k == 1 {
				c.attempt++
				out = append(out, c)
			}
		}
		return nil
	})
	return out, err
}

// maxErrorBody is how much of a failed answer's body is kept as its error.
const maxErrorBody = 200

// attempt sends one claimed delivery and records how it went.
func (d *Dispatcher) attempt(ctx context.Context, ep *endpoint, c claimed) {
	actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	status, problem, retryAfter := d.send(actx, ep, c)
	if ctx.Err() != nil {
		return // shutting down: the lease makes it due again
	}
	now := d.cfg.Now()
	var err error
	log := d.log.With("event", c.eventID, "type", c.typ, "endpoint", ep, "attempt", c.attempt)
	switch {
	case problem == "":
		err = d.record(ctx, ep, c, `state = ?, delivered_at = ?, next_attempt_at = NULL, last_status = ?, last_error = ''`,
			StateDelivered, dbTime(now), status)
		log.Info("webhook delivered", "status", status)
	case c.attempt >= d.cfg.MaxAttempts:
		err = d.record(ctx, ep, c, `state = ?, next_attempt_at = NULL, last_status = ?, last_error = ?`,
			StateFailed, status, problem)
		log.Error("webhook delivery failed for good; see keycard webhook deliveries", "status", status, "error", problem)
	default:
		wait := max(d.cfg.Backoff(c.attempt), min(retryAfter, maxRetryAfter))
		next := now.Add(wait)
		err = d.record(ctx, ep, c, `next_attempt_at = ?, last_status = ?, last_error = ?`,
			dbTime(next), status, problem)
		log.Warn("webhook delivery failed; will retry", "status", status, "error", problem, "retry_in", wait.String())
	}
	if err != nil && ctx.Err() == nil {
		log.Error("webhooks: record a delivery attempt", "err", err)
	}
}

// record updates the delivery c claimed, unless a later claim took it.
func (d *Dispatcher) record(ctx context.Context, ep *endpoint, c claimed, set string, args ...any) error {
	args = append(args, c.rowID, ep.URL, c.attempt)
	_, err := d.db.ExecContext(ctx,
		`UPDATE webhook_deliveries SET `+set+` WHERE event_id = ? AND endpoint = ? AND attempts = ?`, args...)
	if err != nil {
		return fmt.Errorf("webhooks: record %s: %w", c.eventID, err)
	}
	return nil
}

// send posts c to ep. problem is "" for a 2xx answer, else what went
// wrong, for the outbox and the log (never the secret: it is only in the
// signature header).
func (d *Dispatcher) send(ctx context.Context, ep *endpoint, c claimed) (status int, problem string, retryAfter time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(c.body))
	if err != nil {
		return 0, "request: " + err.Error(), 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Keycard-Webhooks/1")
	req.Header.Set(EventIDHeader, c.eventID)
	req.Header.Set(EventTypeHeader, c.typ)
	req.Header.Set(AttemptHeader, strconv.Itoa(c.attempt))
	req.Header.Set(SignatureHeader, Sign(ep.Secret, c.body, d.cfg.Now()))
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, describeError(err, d.cfg.Timeout), 0
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, "", 0
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		to := "elsewhere"
		if loc, err := resp.Location(); err == nil {
			to = loc.Scheme + "://" + loc.Host
		}
		return resp.StatusCode, fmt.Sprintf("HTTP %d: redirect to %s not followed (only 307/308 within the same host are)", resp.StatusCode, to), 0
	}
	problem = fmt.Sprintf("HTTP %d", resp.StatusCode)
	if text := printable(head); text != "" {
		problem += ": " + text
	}
	return resp.StatusCode, problem, parseRetryAfter(resp.Header.Get("Retry-After"), d.cfg.Now())
}

// describeError says why a request got no answer, without repeating the
// URL (the outbox names the endpoint already).
func describeError(err error, timeout time.Duration) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if uerr.Timeout() {
			return fmt.Sprintf("no answer within %s", timeout)
		}
		err = uerr.Err
	}
	return err.Error()
}

// printable is the start of a body as one line of plain text.
func printable(b []byte) string {
	var sb strings.Builder
	for _, r := range string(b) {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			sb.WriteByte(' ')
		case r >= ' ' && r != 0x7f && r != '\uFFFD':
			sb.WriteRune(r)
		}
	}
	return strings.TrimSpace(sb.String())
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Prune removes the events enqueued more than Retention ago whose
// deliveries are all over (delivered or failed), and returns how many.
func (d *Dispatcher) Prune(ctx context.Context) (int64, error) {
	res, err := d.db.ExecContext(ctx,
		`DELETE FROM webhook_events WHERE enqueued_at < ?
		 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries w WHERE w.event_id = webhook_events.id AND w.state = ?)`,
		dbTime(d.cfg.Now().Add(-d.cfg.Retention)), StatePending)
	if err != nil {
		return 0, fmt.Errorf("webhooks: prune: %w", err)
	}
	return res.RowsAffected()
}
