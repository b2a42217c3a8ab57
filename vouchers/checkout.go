package vouchers

import (
	"context"
	"fmt"
	"time"
)

// Departure is a group of devices that must be disconnected now, all of
// one stay and for one reason: ReasonStayEnded (check-out passed or staff
// ended the stay) or ReasonRevoked (staff revoked these devices). A stay
// may appear twice, once per reason.
type Departure struct {
	Stay    Stay
	Devices []Device
	Reason  Reason
}

// DueForCheckout returns the devices that must be disconnected at now and
// were not yet marked with MarkDisconnected: the devices of stays whose
// check-out passed or that were ended, and revoked devices. The caller
// sends Disconnect-Requests and then marks each device, so each is
// returned once. Ordered by stay id, then device id.
func (s *Store) DueForCheckout(ctx context.Context, now time.Time) ([]Departure, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+deviceColumns+`, `+stayColumns+`
		 FROM devices d JOIN stays s ON s.id = d.stay_id
		 WHERE d.disconnected_at IS NULL AND d.serial IS NOT NULL
		   AND (d.revoked_at IS NOT NULL OR s.ended_at IS NOT NULL OR s.check_out <= ?)
		 ORDER BY s.id, d.id`, dbTime(now))
	if err != nil {
		return nil, fmt.Errorf("vouchers: due for checkout: %w", err)
	}
	defer rows.Close()
	var out []Departure
	type group struct {
		stay   int64
		reason Reason
	}
	index := map[group]int{} // position in out
	for rows.Next() {
		var dr deviceRow
		var sr stayRow
		if err := rows.Scan(append(dr.dest(), sr.dest()...)...); err != nil {
			return nil, fmt.Errorf("vouchers: due for checkout: %w", err)
		}
		d, st := dr.device(), sr.stay()
		reason := ReasonStayEnded
		if d.RevokedAt != nil && !st.Over(now) {
			reason = ReasonRevoked
		}
		key := group{st.ID, reason}
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, Departure{Stay: st, Reason: reason})
		}
		out[i].Devices = append(out[i].Devices, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vouchers: due for checkout: %w", err)
	}
	return out, nil
}

// MarkDisconnected records that deviceID was disconnected (or there was
// nothing to disconnect) at now, so DueForCheckout no longer returns it.
// Marking twice keeps the first time.
func (s *Store) MarkDisconnected(ctx context.Context, deviceID int64, now time.Time) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE devices SET disconnected_at = ? WHERE id = ? AND disconnected_at IS NULL`, dbTime(now), deviceID)
	if err != nil {
		return fmt.Errorf("vouchers: mark device %d disconnected: %w", deviceID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		if _, err := s.device(ctx, s.db, deviceID); err != nil {
			return err
		}
	}
	return nil
}

// Revoked returns the revoked devices (with Serial, RevokedAt and
// RevokeReason) for the CRL, by revocation time.
func (s *Store) Revoked(ctx context.Context) ([]Device, error) {
	return s.devices(ctx, `SELECT `+deviceColumns+` FROM devices d
		WHERE d.revoked_at IS NOT NULL AND d.serial IS NOT NULL ORDER BY d.revoked_at, d.id`)
}
