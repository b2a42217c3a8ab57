package webhooks

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Delivery is one event's delivery to one endpoint, as admins see it
// (keycard webhook deliveries).
type Delivery struct {
	EventID       string     `json:"event_id"`
	Type          string     `json:"type"`
	Endpoint      string     `json:"endpoint"` // the URL, without user information
	State         string     `json:"state"`    // StatePending, StateDelivered or StateFailed
	Attempts      int        `json:"attempts"`
	OccurredAt    time.Time  `json:"occurred_at"`
	EnqueuedAt    time.Time  `json:"enqueued_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at"` // pending only
	DeliveredAt   *time.Time `json:"delivered_at"`
	LastStatus    int        `json:"last_status"` // the last answer's HTTP status, 0 for none
	LastError     string     `json:"last_error"`  // why the last attempt failed
}

// DeliveryFilter selects deliveries for ListDeliveries.
type DeliveryFilter struct {
	State string // "" for any
	Limit int    // the newest Limit deliveries; 0: all
}

// ListDeliveries returns the deliveries in the outbox, newest event first.
// It needs no endpoint secrets: any admin command can show it.
func ListDeliveries(ctx context.Context, db *sql.DB, f DeliveryFilter) ([]Delivery, error) {
	q := `SELECT e.event_id, e.type, w.endpoint, w.state, w.attempts, e.occurred_at, e.enqueued_at,
		w.last_attempt_at, w.next_attempt_at, w.delivered_at, w.last_status, w.last_error
		FROM webhook_deliveries w JOIN webhook_events e ON e.id = w.event_id`
	var args []any
	if f.State != "" {
		q += ` WHERE w.state = ?`
		args = append(args, f.State)
	}
	q += ` ORDER BY e.id DESC, w.endpoint`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("webhooks: list deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var dl Delivery
		var occurred, enqueued int64
		var last, next, delivered sql.NullInt64
		if err := rows.Scan(&dl.EventID, &dl.Type, &dl.Endpoint, &dl.State, &dl.Attempts, &occurred, &enqueued,
			&last, &next, &delivered, &dl.LastStatus, &dl.LastError); err != nil {
			return nil, fmt.Errorf("webhooks: list deliveries: %w", err)
		}
		dl.Endpoint = redactURL(dl.Endpoint)
		dl.OccurredAt, dl.EnqueuedAt = fromDB(occurred), fromDB(enqueued)
		dl.LastAttemptAt, dl.NextAttemptAt, dl.DeliveredAt = fromNull(last), fromNull(next), fromNull(delivered)
		out = append(out, dl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhooks: list deliveries: %w", err)
	}
	return out, nil
}
