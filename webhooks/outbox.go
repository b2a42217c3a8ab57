package webhooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The states of a delivery.
const (
	StatePending   = "pending"   // to be sent at next_attempt_at
	StateDelivered = "delivered" // the endpoint answered 2xx
	StateFailed    = "failed"    // every attempt failed; kept, not retried
)

// The cursors, by name in webhook_cursors.
const (
	auditCursor    = "audit"    // the last audit entry id followed
	sessionsCursor = "sessions" // the last session id seen
)

// inTx runs fn in one transaction (IMMEDIATE on SQLite: store.Open).
func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("webhooks: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("webhooks: commit: %w", err)
	}
	return nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readCursor returns the cursor's position; ok is false when it was never
// set.
func readCursor(ctx context.Context, q queryer, name string) (pos int64, ok bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT position FROM webhook_cursors WHERE name = ?`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("webhooks: read the %s cursor: %w", name, err)
	}
	return pos, true, nil
}

// startCursor sets a cursor that was never set to pos and returns where
// it is (another process may have set it first).
func startCursor(ctx context.Context, db *sql.DB, name string, pos int64) (int64, error) {
	if _, err := db.ExecContext(ctx,
		`INSERT INTO webhook_cursors (name, position) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, pos); err != nil {
		return 0, fmt.Errorf("webhooks: start the %s cursor: %w", name, err)
	}
	got, _, err := readCursor(ctx, db, name)
	return got, err
}

// advanceCursor moves a cursor forward to pos, never back: a second
// follower that got further first wins.
func advanceCursor(ctx context.Context, tx *sql.Tx, name string, pos int64) error {
	if _, err := tx.ExecContext(ctx,
		`UPDATE webhook_cursors SET position = ? WHERE name = ? AND position < ?`, pos, name, pos); err != nil {
		return fmt.Errorf("webhooks: advance the %s cursor: %w", name, err)
	}
	return nil
}

// enqueue writes events into the outbox with one pending delivery, due
// now, for each endpoint that wants it, inside tx. An event already there
// (the same source and source id: a change followed twice) is skipped with
// its deliveries. It returns the deliveries written.
func enqueue(ctx context.Context, tx *sql.Tx, endpoints []Endpoint, events []pendingEvent, now time.Time) (int, error) {
	n := 0
	for _, p := range events {
		var wanted []string
		for _, ep := range endpoints {
			if ep.Wants(p.event.Type) {
				wanted = append(wanted, ep.URL)
			}
		}
		if len(wanted) == 0 {
			continue
		}
		body, err := p.body()
		if err != nil {
			return 0, err
		}
		var rowID int64
		err = tx.QueryRowContext(ctx,
			`INSERT INTO webhook_events (event_id, source, source_id, type, occurred_at, enqueued_at, body)
			 VALUES (?, ?, ?, ?, ?, ?, ?)
			 ON CONFLICT DO NOTHING
			 RETURNING id`,
			p.event.ID, p.source, p.sourceID, p.event.Type, dbTime(p.event.OccurredAt), dbTime(now), string(body)).Scan(&rowID)
		if errors.Is(err, sql.ErrNoRows) {
			continue // enqueued before
		}
		if err != nil {
			return 0, fmt.Errorf("webhooks: enqueue %s: %w", p.event.ID, err)
		}
		for _, url := range wanted {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO webhook_deliveries (event_id, endpoint, state, next_attempt_at) VALUES (?, ?, ?, ?)
				 ON CONFLICT DO NOTHING`,
				rowID, url, StatePending, dbTime(now)); err != nil {
				return 0, fmt.Errorf("webhooks: enqueue %s: %w", p.event.ID, err)
			}
			n++
		}
	}
	return n, nil
}
