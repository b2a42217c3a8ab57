package vouchers

import (
	"context"
	"fmt"
)

// EnrolledCounts returns, per stay, how many devices are enrolled and not
// revoked: the places taken under each stay's device cap (MaxDevices).
// Stays without such devices are absent.
func (s *Store) EnrolledCounts(ctx context.Context) (map[int64]int, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT stay_id, COUNT(*) FROM devices WHERE revoked_at IS NULL AND serial IS NOT NULL GROUP BY stay_id`)
	if err != nil {
		return nil, fmt.Errorf("vouchers: enrolled counts: %w", err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var stay int64
		var n int
		if err := rows.Scan(&stay, &n); err != nil {
			return nil, fmt.Errorf("vouchers: enrolled counts: %w", err)
		}
		out[stay] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vouchers: enrolled counts: %w", err)
	}
	return out, nil
}
