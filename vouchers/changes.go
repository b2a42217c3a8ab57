package vouchers

import (
	"context"
	"fmt"
	"time"
)

// AuditSince returns up to limit audit entries after the entry afterID,
// oldest first. The audit log records every change in order, so a process
// that follows it (keycard serve) learns what another process (the CLI,
// the front desk) changed: it is Keycard's change feed.
func (s *Store) AuditSince(ctx context.Context, afterID int64, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+auditColumns+` FROM audit_log WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("vouchers: audit since %d: %w", afterID, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("vouchers: audit since %d: %w", afterID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vouchers: audit since %d: %w", afterID, err)
	}
	return out, nil
}

// NextCheckout returns the earliest check-out after after of a stay that
// was not ended early and still has devices not yet dealt with
// (MarkDisconnected): the next moment DueForCheckout will have something
// to return without any change being made. ok is false when there is none.
func (s *Store) NextCheckout(ctx context.Context, after time.Time) (at time.Time, ok bool, err error) {
	var next *int64
	err = s.db.QueryRowContext(ctx,
		`SELECT MIN(s.check_out) FROM stays s
		 WHERE s.ended_at IS NULL AND s.check_out > ?
		   AND EXISTS (SELECT 1 FROM devices d
		               WHERE d.stay_id = s.id AND d.disconnected_at IS NULL AND d.serial IS NOT NULL)`,
		dbTime(after)).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("vouchers: next check-out: %w", err)
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return fromDB(*next), true, nil
}
