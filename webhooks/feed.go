package webhooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"keycard/vouchers"
)

// Hotel is what the Feed reads of the hotel domain; *vouchers.Store is
// one. The audit log is Keycard's change feed: every stay and device
// change is in it, in order, committed with the change.
type Hotel interface {
	AuditHead(ctx context.Context) (count int64, hash string, err error)
	AuditSince(ctx context.Context, afterID int64, limit int) ([]vouchers.AuditEntry, error)
	Stay(ctx context.Context, id int64) (vouchers.Stay, error)
	Device(ctx context.Context, id int64) (vouchers.Device, error)
}

// FeedConfig wires a Feed.
type FeedConfig struct {
	// Endpoints say which events to enqueue and for whom (URL and Events).
	// None: the Feed only keeps its cursors and logs the audit head.
	Endpoints []Endpoint
	Hotel     Hotel    // required
	Sessions  Sessions // nil: no session events
	// BatchSize is how many audit entries or sessions one transaction
	// takes (default 500).
	BatchSize int
	// OnEnqueue is called after events were committed to the outbox
	// (Dispatcher.Poke).
	OnEnqueue func()
	Now       func() time.Time // default time.Now
	Logger    *slog.Logger     // default discards
}

// Feed turns durable changes into outbox events: it follows the audit log
// and the sessions table with cursors kept in the outbox, and commits each
// batch of events together with its cursor's new position. See the package
// documentation for why a crash loses nothing.
type Feed struct {
	db  *sql.DB
	cfg FeedConfig
	log *slog.Logger
	mu  sync.Mutex // one Follow at a time
}

// NewFeed checks cfg and returns a Feed on db, whose tables Migrate has
// created.
func NewFeed(db *sql.DB, cfg FeedConfig) (*Feed, error) {
	switch {
	case db == nil:
		return nil, errors.New("webhooks: feed without a database")
	case cfg.Hotel == nil:
		return nil, errors.New("webhooks: feed without a Hotel")
	}
	if err := checkEndpoints(cfg.Endpoints); err != nil {
		return nil, err
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Feed{db: db, cfg: cfg, log: cfg.Logger}, nil
}

// checkEndpoints checks each endpoint and that no URL is given twice (the
// URL names the endpoint's deliveries).
func checkEndpoints(eps []Endpoint) error {
	seen := map[string]bool{}
	for _, ep := range eps {
		if err := ep.check(); err != nil {
			return err
		}
		if seen[ep.URL] {
			return fmt.Errorf("webhooks: endpoint %s is configured twice", ep)
		}
		seen[ep.URL] = true
	}
	return nil
}

// wanted reports whether some endpoint takes events of type t.
func (f *Feed) wanted(t string) bool {
	for _, ep := range f.cfg.Endpoints {
		if ep.Wants(t) {
			return true
		}
	}
	return false
}

// Start sets the cursors that were never set to the current ends of the
// audit log and the sessions (history from before is not replayed) and
// leaves those already set alone, for Follow to catch up from. Call it
// before anything can change, so that no change falls between the ends
// and the first Follow.
func (f *Feed) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.auditPosition(ctx); err != nil {
		return err
	}
	if f.followsSessions() {
		if _, err := f.sessionsPosition(ctx); err != nil {
			return err
		}
	}
	return nil
}

// followsSessions reports whether the Feed reads the sessions: it has
// them and some endpoint takes session events.
func (f *Feed) followsSessions() bool {
	return f.cfg.Sessions != nil && (f.wanted(SessionStarted) || f.wanted(SessionStopped))
}

// Changed follows what was committed since the last call and logs what
// fails (the next call tries again); it is the callback of the change feed
// (store.Watch).
func (f *Feed) Changed(ctx context.Context) {
	if err := f.Follow(ctx); err != nil && ctx.Err() == nil {
		f.log.Error("webhooks: follow changes", "err", err)
	}
}

// Follow enqueues the events of every audit entry and session change
// after the cursors, batch by batch, until it has caught up.
func (f *Feed) Follow(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return errors.Join(f.followAudit(ctx), f.followSessions(ctx))
}

// auditPosition is the audit cursor, set to the head if it never was.
func (f *Feed) auditPosition(ctx context.Context) (int64, error) {
	pos, ok, err := readCursor(ctx, f.db, auditCursor)
	if err != nil || ok {
		return pos, err
	}
	count, _, err := f.cfg.Hotel.AuditHead(ctx)
	if err != nil {
		return 0, fmt.Errorf("webhooks: %w", err)
	}
	return startCursor(ctx, f.db, auditCursor, count)
}

func (f *Feed) followAudit(ctx context.Context) error {
	pos, err := f.auditPosition(ctx)
	if err != nil {
		return err
	}
	for {
		entries, err := f.cfg.Hotel.AuditSince(ctx, pos, f.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
		if len(entries) == 0 {
			return f.checkAuditHead(ctx, pos)
		}
		events, err := f.auditEvents(ctx, entries)
		if err != nil {
			return err
		}
		last := entries[len(entries)-1]
		if err := f.commit(ctx, events, auditCursor, last.ID, nil); err != nil {
			return err
		}
		// The anchor: this line leaves the host with the logs, and the
		// audit.head event with the endpoints that take it.
		f.log.Info("audit log head", "entries", last.ID, "head", last.Hash)
		pos = last.ID
		if len(entries) < f.cfg.BatchSize {
			return nil
		}
	}
}

// checkAuditHead notices an audit log that is shorter than the cursor,
// which only a truncated log or a database restored from an older backup
// can be. The cursor is put back to the head so that new changes make
// events again; those whose audit ids were evented before (with other
// content) are not sent again, since the outbox keys events by audit id.
func (f *Feed) checkAuditHead(ctx context.Context, pos int64) error {
	count, hash, err := f.cfg.Hotel.AuditHead(ctx)
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	if count >= pos {
		return nil
	}
	f.log.Error("audit log is shorter than it was: entries were removed or the database was restored from an older backup; compare with the last anchored audit head",
		"entries", count, "head", hash, "entries_seen", pos)
	return inTx(ctx, f.db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE webhook_cursors SET position = ? WHERE name = ?`, count, auditCursor)
		return err
	})
}

// auditEvents are the events of a batch of audit entries: one per stay or
// device change some endpoint wants, and the batch's audit.head.
func (f *Feed) auditEvents(ctx context.Context, entries []vouchers.AuditEntry) ([]pendingEvent, error) {
	var out []pendingEvent
	for _, en := range entries {
		typ, ok := auditEventType(en.Action)
		if !ok || !f.wanted(typ) {
			continue
		}
		data, err := f.auditData(ctx, typ, en)
		if err != nil {
			return nil, err
		}
		p, err := newPending("audit", en.ID, "audit-"+strconv.FormatInt(en.ID, 10), typ, en.At, data)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if last := entries[len(entries)-1]; f.wanted(AuditHead) {
		p, err := newPending("audit.head", last.ID, "audit-head-"+strconv.FormatInt(last.ID, 10), AuditHead, last.At,
			AuditHeadData{Entries: last.ID, Head: last.Hash, At: last.At.UTC()})
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// auditData is a stay or device event's data: the entry and the stay or
// device as it is now.
func (f *Feed) auditData(ctx context.Context, typ string, en vouchers.AuditEntry) (any, error) {
	switch typ {
	case DeviceEnrolled, DeviceRevoked:
		id, _ := refID(en.Subject, "device:")
		data := DeviceData{DeviceID: id, Audit: auditRecord(en)}
		d, err := f.cfg.Hotel.Device(ctx, id)
		switch {
		case errors.Is(err, vouchers.ErrUnknownDevice):
		case err != nil:
			return nil, fmt.Errorf("webhooks: %w", err)
		default:
			data.Device, data.StayID = deviceView(d), d.StayID
		}
		return data, nil
	default:
		id, _ := refID(en.Subject, "stay:")
		data := StayData{StayID: id, Audit: auditRecord(en)}
		st, err := f.cfg.Hotel.Stay(ctx, id)
		switch {
		case errors.Is(err, vouchers.ErrUnknownStay):
		case err != nil:
			return nil, fmt.Errorf("webhooks: %w", err)
		default:
			data.Stay = stayView(st)
		}
		return data, nil
	}
}

func refID(subject, prefix string) (int64, bool) {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// commit enqueues events and moves the cursor (unless "") to pos in one
// transaction; more, when set, runs in it too.
func (f *Feed) commit(ctx context.Context, events []pendingEvent, cursor string, pos int64, more func(tx *sql.Tx) error) error {
	var n int
	err := inTx(ctx, f.db, func(tx *sql.Tx) error {
		var err error
		if n, err = enqueue(ctx, tx, f.cfg.Endpoints, events, f.cfg.Now()); err != nil {
			return err
		}
		if more != nil {
			if err := more(tx); err != nil {
				return err
			}
		}
		if cursor == "" {
			return nil
		}
		return advanceCursor(ctx, tx, cursor, pos)
	})
	if err != nil {
		return err
	}
	if n > 0 && f.cfg.OnEnqueue != nil {
		f.cfg.OnEnqueue()
	}
	return nil
}

// sessionsPosition is the sessions cursor, set to the last session if it
// never was.
func (f *Feed) sessionsPosition(ctx context.Context) (int64, error) {
	pos, ok, err := readCursor(ctx, f.db, sessionsCursor)
	if err != nil || ok {
		return pos, err
	}
	last, err := f.cfg.Sessions.LastSessionID(ctx)
	if err != nil {
		return 0, err
	}
	return startCursor(ctx, f.db, sessionsCursor, last)
}

// followSessions enqueues session.started for each session after the
// cursor, and session.stopped for each session announced (or seen) that
// has since stopped. The sessions announced and not yet stopped are kept
// in webhook_open_sessions, in the same transactions, so a stop is
// noticed once, after a restart too.
func (f *Feed) followSessions(ctx context.Context) error {
	if !f.followsSessions() {
		return f.forgetSessions(ctx)
	}
	pos, err := f.sessionsPosition(ctx)
	if err != nil {
		return err
	}
	wantStop := f.wanted(SessionStopped)
	for {
		batch, err := f.cfg.Sessions.SessionsAfter(ctx, pos, f.cfg.BatchSize)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		var events []pendingEvent
		var open []int64
		for _, s := range batch {
			p, err := sessionEvent(SessionStarted, s)
			if err != nil {
				return err
			}
			events = append(events, p)
			switch {
			case s.StoppedAt != nil:
				p, err := sessionEvent(SessionStopped, s)
				if err != nil {
					return err
				}
				events = append(events, p)
			case wantStop:
				open = append(open, s.ID)
			}
		}
		last := batch[len(batch)-1].ID
		if err := f.commit(ctx, events, sessionsCursor, last, func(tx *sql.Tx) error {
			for _, id := range open {
				if _, err := tx.ExecContext(ctx,
					`INSERT INTO webhook_open_sessions (session_id) VALUES (?) ON CONFLICT DO NOTHING`, id); err != nil {
					return fmt.Errorf("webhooks: track session %d: %w", id, err)
				}
			}
			return nil
		}); err != nil {
			return err
		}
		pos = last
		if len(batch) < f.cfg.BatchSize {
			break
		}
	}
	return f.followStops(ctx)
}

// forgetSessions drops the sessions cursor and the tracked sessions when
// nobody takes session events (any more), once: an endpoint configured
// later starts from the sessions of then, not from old ones, and serve
// does not write to the database for every new session in the meantime.
func (f *Feed) forgetSessions(ctx context.Context) error {
	if _, ok, err := readCursor(ctx, f.db, sessionsCursor); err != nil || !ok {
		return err
	}
	return inTx(ctx, f.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_open_sessions`); err != nil {
			return fmt.Errorf("webhooks: forget sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_cursors WHERE name = ?`, sessionsCursor); err != nil {
			return fmt.Errorf("webhooks: forget sessions: %w", err)
		}
		return nil
	})
}

// followStops enqueues session.stopped for the tracked sessions that have
// stopped, and stops tracking them.
func (f *Feed) followStops(ctx context.Context) error {
	ids, err := f.openSessions(ctx)
	if err != nil {
		return err
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), f.cfg.BatchSize)]
		ids = ids[len(chunk):]
		now, err := f.cfg.Sessions.SessionsByID(ctx, chunk)
		if err != nil {
			return err
		}
		known := make(map[int64]bool, len(now))
		var events []pendingEvent
		var done []int64
		for _, s := range now {
			known[s.ID] = true
			if s.StoppedAt == nil {
				continue
			}
			p, err := sessionEvent(SessionStopped, s)
			if err != nil {
				return err
			}
			events, done = append(events, p), append(done, s.ID)
		}
		for _, id := range chunk {
			if !known[id] {
				done = append(done, id) // gone from the table: nothing to wait for
			}
		}
		if len(done) == 0 {
			continue
		}
		if err := f.commit(ctx, events, "", 0, func(tx *sql.Tx) error {
			for _, id := range done {
				if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_open_sessions WHERE session_id = ?`, id); err != nil {
					return fmt.Errorf("webhooks: untrack session %d: %w", id, err)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

func (f *Feed) openSessions(ctx context.Context) ([]int64, error) {
	rows, err := f.db.QueryContext(ctx, `SELECT session_id FROM webhook_open_sessions ORDER BY session_id`)
	if err != nil {
		return nil, fmt.Errorf("webhooks: tracked sessions: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("webhooks: tracked sessions: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhooks: tracked sessions: %w", err)
	}
	return ids, nil
}

// sessionEvent is session.started or session.stopped for s.
func sessionEvent(typ string, s Session) (pendingEvent, error) {
	at, source, suffix := s.StartedAt, "session.started", "started"
	if typ == SessionStopped {
		at, source, suffix = *s.StoppedAt, "session.stopped", "stopped"
	}
	return newPending(source, s.ID, "session-"+strconv.FormatInt(s.ID, 10)+"-"+suffix, typ, at, SessionData{Session: s})
}
