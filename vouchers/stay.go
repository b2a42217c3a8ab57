package vouchers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Stay is one guest's booking of one room: the single source of truth for
// whether that guest's devices may use the network.
type Stay struct {
	ID         int64
	Room       string
	GuestName  string
	CheckIn    time.Time
	CheckOut   time.Time // moved to the end time by EndStay
	MaxDevices int
	Policy     string
	EndedAt    *time.Time // set when staff ended the stay early
	CreatedAt  time.Time
}

// Over reports whether the stay has ended at now: staff ended it or its
// check-out has passed.
func (st Stay) Over(now time.Time) bool {
	return st.EndedAt != nil || !now.Before(st.CheckOut)
}

// NewStay is what the front desk enters to create a stay.
type NewStay struct {
	Room      string
	GuestName string
	CheckIn   time.Time // zero means now
	CheckOut  time.Time
	// MaxDevices is how many devices the stay may have enrolled and not
	// revoked at once (1..50): revoking a device frees its place.
	MaxDevices int
	Policy     string
}

// StayFilter selects stays for ListStays.
type StayFilter struct {
	// ActiveAt, when set, keeps only stays live at that instant: checked
	// in, not yet checked out, not yet ended (IncludeEnded is then moot).
	ActiveAt *time.Time
	// IncludeEnded keeps stays that are over; by default ListStays returns
	// current and future stays only.
	IncludeEnded bool
}

// Limits on what the front desk may enter.
const (
	MaxDevicesLimit = 50
	maxRoomLen      = 32
	maxGuestNameLen = 128
	maxStayLength   = 366 * 24 * time.Hour
)

const stayColumns = `s.id, s.room, s.guest_name, s.check_in, s.check_out, s.max_devices, s.policy, s.ended_at, s.created_at`

// stayRow receives stayColumns.
type stayRow struct {
	st                         Stay
	checkIn, checkOut, created int64
	ended                      sql.NullInt64
}

func (r *stayRow) dest() []any {
	return []any{&r.st.ID, &r.st.Room, &r.st.GuestName, &r.checkIn, &r.checkOut,
		&r.st.MaxDevices, &r.st.Policy, &r.ended, &r.created}
}

func (r *stayRow) stay() Stay {
	st := r.st
	st.CheckIn, st.CheckOut, st.CreatedAt = fromDB(r.checkIn), fromDB(r.checkOut), fromDB(r.created)
	st.EndedAt = fromNull(r.ended)
	return st
}

// cleanText trims s and checks it is non-empty, at most max runes and free
// of control characters; what names the field in the error.
func cleanText(what, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", invalidf("%s is required", what)
	case !utf8.ValidString(s):
		return "", invalidf("%s is not valid UTF-8", what)
	case utf8.RuneCountInString(s) > max:
		return "", invalidf("%s is too long (%d characters); use at most %d", what, utf8.RuneCountInString(s), max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", invalidf("%s contains control characters", what)
	}
	return s, nil
}

func (s *Store) validateStay(req NewStay, now time.Time) (NewStay, error) {
	var err error
	if req.Room, err = cleanText("room", req.Room, maxRoomLen); err != nil {
		return req, err
	}
	if req.GuestName, err = cleanText("guest name", req.GuestName, maxGuestNameLen); err != nil {
		return req, err
	}
	if req.CheckIn.IsZero() {
		req.CheckIn = now
	}
	// Certificates carry whole seconds: keep the stay's times in step.
	req.CheckIn = req.CheckIn.UTC().Truncate(time.Second)
	req.CheckOut = req.CheckOut.UTC().Truncate(time.Second)
	switch {
	case req.CheckOut.IsZero():
		return req, invalidf("check-out is required")
	case !req.CheckOut.After(req.CheckIn):
		return req, invalidf("check-out %s must be after check-in %s", req.CheckOut.Format(time.RFC3339), req.CheckIn.Format(time.RFC3339))
	case !req.CheckOut.After(now):
		return req, invalidf("check-out %s is in the past", req.CheckOut.Format(time.RFC3339))
	case req.CheckOut.Sub(req.CheckIn) > maxStayLength:
		return req, invalidf("stay from %s to %s is longer than %d days", req.CheckIn.Format(time.RFC3339), req.CheckOut.Format(time.RFC3339), int(maxStayLength.Hours()/24))
	}
	if req.MaxDevices < 1 || req.MaxDevices > MaxDevicesLimit {
		return req, invalidf("max devices %d is out of range; use 1..%d", req.MaxDevices, MaxDevicesLimit)
	}
	if _, ok := s.policies[req.Policy]; !ok {
		return req, invalidf("unknown policy %q; configured: %s", req.Policy, strings.Join(s.policyNames(), ", "))
	}
	return req, nil
}

func (s *Store) policyNames() []string {
	names := make([]string, 0, len(s.policies))
	for n := range s.policies {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// CreateStay records a new stay and returns it with its voucher code
// (e.g. "K7QX-M4TR-9PCW"). The code is shown once and never stored; lose it
// and ReissueVoucher makes a new one. Nothing is written when req is
// invalid (errors.Is(err, ErrInvalid)).
func (s *Store) CreateStay(ctx context.Context, by Actor, req NewStay) (Stay, string, error) {
	return s.createStay(ctx, by, req, nil)
}

// createStay is CreateStay with a hook run in its transaction right after
// the insert (CreateStayExternal); the hook's text is added to the audit
// detail.
func (s *Store) createStay(ctx context.Context, by Actor, req NewStay, hook func(tx *sql.Tx, id int64) (string, error)) (Stay, string, error) {
	if err := checkActor(by); err != nil {
		return Stay{}, "", err
	}
	now := s.now()
	req, err := s.validateStay(req, now)
	if err != nil {
		return Stay{}, "", err
	}
	var st Stay
	var code string
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO stays (room, guest_name, check_in, check_out, max_devices, policy, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?)`,
			req.Room, req.GuestName, dbTime(req.CheckIn), dbTime(req.CheckOut), req.MaxDevices, req.Policy, dbTime(now))
		if err != nil {
			return fmt.Errorf("vouchers: create stay: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("vouchers: create stay: %w", err)
		}
		var extra string
		if hook != nil {
			if extra, err = hook(tx, id); err != nil {
				return err
			}
		}
		if code, err = s.issueVoucher(ctx, tx, id, now); err != nil {
			return err
		}
		if st, err = s.stay(ctx, tx, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, by, now, "stay.create", stayRef(id),
			fmt.Sprintf("room=%q guest=%q check_in=%s check_out=%s max_devices=%d policy=%q",
				st.Room, st.GuestName, st.CheckIn.Format(time.RFC3339), st.CheckOut.Format(time.RFC3339), st.MaxDevices, st.Policy)+extra)
	})
	if err != nil {
		return Stay{}, "", err
	}
	s.log.Info("stay created", "stay", st.ID, "room", st.Room, "check_out", st.CheckOut, "by", by.Name)
	return st, code, nil
}

func stayRef(id int64) string { return fmt.Sprintf("stay:%d", id) }

// Stay returns the stay with the given id (ErrUnknownStay).
func (s *Store) Stay(ctx context.Context, id int64) (Stay, error) {
	return s.stay(ctx, s.db, id)
}

func (s *Store) stay(ctx context.Context, q queryer, id int64) (Stay, error) {
	var r stayRow
	err := q.QueryRowContext(ctx, `SELECT `+stayColumns+` FROM stays s WHERE s.id = ?`, id).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return Stay{}, fmt.Errorf("%w: %d", ErrUnknownStay, id)
	}
	if err != nil {
		return Stay{}, fmt.Errorf("vouchers: read stay %d: %w", id, err)
	}
	return r.stay(), nil
}

// ListStays returns the stays f selects, by check-in then id.
func (s *Store) ListStays(ctx context.Context, f StayFilter) ([]Stay, error) {
	var where []string
	var args []any
	if f.ActiveAt != nil {
		at := dbTime(*f.ActiveAt)
		where = append(where, `s.check_in <= ? AND s.check_out > ? AND (s.ended_at IS NULL OR s.ended_at > ?)`)
		args = append(args, at, at, at)
	} else if !f.IncludeEnded {
		where = append(where, `s.check_out > ? AND s.ended_at IS NULL`)
		args = append(args, dbTime(s.now()))
	}
	q := `SELECT ` + stayColumns + ` FROM stays s`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY s.check_in, s.id`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("vouchers: list stays: %w", err)
	}
	defer rows.Close()
	var stays []Stay
	for rows.Next() {
		var r stayRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, fmt.Errorf("vouchers: list stays: %w", err)
		}
		stays = append(stays, r.stay())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vouchers: list stays: %w", err)
	}
	return stays, nil
}

// ExtendStay moves a live stay's check-out later. The stay's devices need
// not enrol again: their certificates still end at the old check-out (the
// end is signed in and the key lives on the device), and Authorize accepts
// such a certificate past its NotAfter for as long as the extended stay is
// live, the device is not revoked and the certificate is the one on record.
// Those devices keep their places under the stay's cap.
func (s *Store) ExtendStay(ctx context.Context, by Actor, id int64, checkOut time.Time) (Stay, error) {
	if err := checkActor(by); err != nil {
		return Stay{}, err
	}
	now := s.now()
	checkOut = checkOut.UTC().Truncate(time.Second)
	var st Stay
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := s.stay(ctx, tx, id)
		if err != nil {
			return err
		}
		if old.Over(now) {
			return fmt.Errorf("%w: stay %d is over and cannot be extended; create a new stay", ErrStayEnded, id)
		}
		if !checkOut.After(old.CheckOut) {
			return invalidf("new check-out %s must be later than the current %s", checkOut.Format(time.RFC3339), old.CheckOut.Format(time.RFC3339))
		}
		if checkOut.Sub(old.CheckIn) > maxStayLength {
			return invalidf("stay would be longer than %d days", int(maxStayLength.Hours()/24))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE stays SET check_out = ? WHERE id = ?`, dbTime(checkOut), id); err != nil {
			return fmt.Errorf("vouchers: extend stay %d: %w", id, err)
		}
		st = old
		st.CheckOut = checkOut
		return s.appendAudit(ctx, tx, by, now, "stay.extend", stayRef(id),
			fmt.Sprintf("check_out=%s (was %s)", checkOut.Format(time.RFC3339), old.CheckOut.Format(time.RFC3339)))
	})
	if err != nil {
		return Stay{}, err
	}
	s.log.Info("stay extended", "stay", id, "check_out", checkOut, "by", by.Name)
	return st, nil
}

// EndStay ends a stay now: its check-out becomes now (unless already
// passed) and EndedAt is set. Its devices are refused from now on and
// DueForCheckout returns them. Ending a stay that is already ended is
// ErrStayEnded.
func (s *Store) EndStay(ctx context.Context, by Actor, id int64) (Stay, error) {
	if err := checkActor(by); err != nil {
		return Stay{}, err
	}
	now := s.now().UTC()
	var st Stay
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := s.stay(ctx, tx, id)
		if err != nil {
			return err
		}
		if old.EndedAt != nil {
			return fmt.Errorf("%w: stay %d was already ended at %s", ErrStayEnded, id, old.EndedAt.Format(time.RFC3339))
		}
		st = old
		if now.Before(st.CheckOut) {
			st.CheckOut = now
		}
		st.EndedAt = &now
		if _, err := tx.ExecContext(ctx, `UPDATE stays SET check_out = ?, ended_at = ? WHERE id = ?`,
			dbTime(st.CheckOut), dbTime(now), id); err != nil {
			return fmt.Errorf("vouchers: end stay %d: %w", id, err)
		}
		return s.appendAudit(ctx, tx, by, now, "stay.end", stayRef(id),
			fmt.Sprintf("check_out=%s (was %s)", st.CheckOut.Format(time.RFC3339), old.CheckOut.Format(time.RFC3339)))
	})
	if err != nil {
		return Stay{}, err
	}
	s.log.Info("stay ended", "stay", id, "by", by.Name)
	return st, nil
}
