package vouchers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrDuplicateExternalID: another stay already has this external
// (reservation) id. The error names that stay.
var ErrDuplicateExternalID = errors.New("vouchers: another stay has this reservation id")

// maxExternalIDLen bounds a PMS reservation id.
const maxExternalIDLen = 128

// CreateStayExternal is CreateStay for a stay a property-management system
// (PMS) books: externalID is its reservation id, unique among all stays
// (ErrDuplicateExternalID names the stay that has it). The stay, its
// voucher, the reservation id and the audit row commit together; an empty
// externalID is ErrInvalid.
func (s *Store) CreateStayExternal(ctx context.Context, by Actor, req NewStay, externalID string) (Stay, string, error) {
	ext, err := cleanText("reservation id", externalID, maxExternalIDLen)
	if err != nil {
		return Stay{}, "", err
	}
	return s.createStay(ctx, by, req, func(tx *sql.Tx, id int64) (string, error) {
		var other int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM stays WHERE external_id = ?`, ext).Scan(&other)
		switch {
		case err == nil:
			return "", fmt.Errorf("%w: reservation %q is stay %d", ErrDuplicateExternalID, ext, other)
		case !errors.Is(err, sql.ErrNoRows):
			return "", fmt.Errorf("vouchers: create stay: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE stays SET external_id = ? WHERE id = ?`, ext, id); err != nil {
			return "", fmt.Errorf("vouchers: create stay: reservation id: %w", err)
		}
		return fmt.Sprintf(" external_id=%q", ext), nil
	})
}

// StayByExternalID returns the stay with the given reservation id
// (ErrUnknownStay).
func (s *Store) StayByExternalID(ctx context.Context, externalID string) (Stay, error) {
	var r stayRow
	err := s.db.QueryRowContext(ctx, `SELECT `+stayColumns+` FROM stays s WHERE s.external_id = ?`, externalID).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return Stay{}, fmt.Errorf("%w: reservation %q", ErrUnknownStay, externalID)
	}
	if err != nil {
		return Stay{}, fmt.Errorf("vouchers: read stay by reservation id: %w", err)
	}
	return r.stay(), nil
}

// ExternalID returns the reservation id of a stay, "" when it has none
// (ErrUnknownStay when there is no such stay).
func (s *Store) ExternalID(ctx context.Context, stayID int64) (string, error) {
	var ext sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT external_id FROM stays WHERE id = ?`, stayID).Scan(&ext)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: %d", ErrUnknownStay, stayID)
	}
	if err != nil {
		return "", fmt.Errorf("vouchers: read reservation id of stay %d: %w", stayID, err)
	}
	return ext.String, nil
}
