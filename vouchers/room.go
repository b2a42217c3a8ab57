package vouchers

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// How a guest proved a stay at the portal, as the audit log records it
// ("via=voucher", "via=room").
const (
	SignInVoucher = "voucher"
	SignInRoom    = "room"
)

// Limits on what a guest may type to sign in with room and surname.
const (
	minSurnameLen = 2
	maxSurnameLen = 64
)

// StayForVoucher signs a guest in with a voucher code: it returns the
// stay the code belongs to without enrolling anything, for the portal
// paths where the key is not at hand yet (the device makes its own key
// and enrols later through SCEP) or where the guest must first choose a
// device to replace. Its checks, its errors and its failed-try counting
// are Redeem's: ErrVoucherInvalid (malformed, unknown or wrong),
// ErrVoucherLocked, ErrStayEnded; a wrong code for a known voucher counts
// a failed try, a right one clears them.
func (s *Store) StayForVoucher(ctx context.Context, by Actor, code string) (Stay, error) {
	if err := checkActor(by); err != nil {
		return Stay{}, err
	}
	selector, verifier, err := splitCode(code)
	if err != nil {
		return Stay{}, ErrVoucherInvalid
	}
	// As in Redeem: hash before the write transaction, compare inside it.
	var salt, stored string
	var tries int
	err = s.db.QueryRowContext(ctx, `SELECT verifier_salt, verifier_hash, failed_tries FROM vouchers WHERE selector = ?`,
		selector).Scan(&salt, &stored, &tries)
	if errors.Is(err, sql.ErrNoRows) {
		_ = s.kdf.verifierHash(selector, verifier, dummySalt)
		return Stay{}, ErrVoucherInvalid
	}
	if err != nil {
		return Stay{}, fmt.Errorf("vouchers: sign in: %w", err)
	}
	if tries >= s.maxTries {
		return Stay{}, ErrVoucherLocked
	}
	saltBytes, err := hex.DecodeString(salt)
	if err != nil || len(saltBytes) != verifierSaltLen {
		return Stay{}, fmt.Errorf("vouchers: sign in: voucher %s has a malformed salt", selector)
	}
	match := subtle.ConstantTimeCompare([]byte(s.kdf.verifierHash(selector, verifier, saltBytes)), []byte(stored)) == 1

	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Stay{}, fmt.Errorf("vouchers: begin: %w", err)
	}
	defer tx.Rollback() // no-op after Commit

	var stayID int64
	var current string
	err = tx.QueryRowContext(ctx, `SELECT stay_id, verifier_hash, failed_tries FROM vouchers WHERE selector = ?`,
		selector).Scan(&stayID, &current, &tries)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && current != stored) {
		return Stay{}, ErrVoucherInvalid
	}
	if err != nil {
		return Stay{}, fmt.Errorf("vouchers: sign in: %w", err)
	}
	if tries >= s.maxTries {
		return Stay{}, ErrVoucherLocked
	}
	if !match {
		return Stay{}, s.failedTry(ctx, tx, by, stayID, tries+1, now)
	}
	if tries > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE vouchers SET failed_tries = 0 WHERE stay_id = ?`, stayID); err != nil {
			return Stay{}, fmt.Errorf("vouchers: sign in: %w", err)
		}
	}
	st, err := s.stay(ctx, tx, stayID)
	if err != nil {
		return Stay{}, err
	}
	if st.Over(now) {
		return Stay{}, fmt.Errorf("%w: stay %d", ErrStayEnded, st.ID)
	}
	if err := tx.Commit(); err != nil {
		return Stay{}, fmt.Errorf("vouchers: commit: %w", err)
	}
	return st, nil
}

// StayForRoom signs a guest in with a room number and surname, for hotels
// that allow it instead of the voucher code: the stay that is not over,
// in that room (compared without regard to case), whose guest name ends
// with the surname (whole words, without regard to case; "Lovelace" and
// "ada lovelace" both match "Ada Lovelace", and for a name written
// "Lovelace, Ada" the part before the comma is the surname).
//
// A room number and a surname are far easier to guess than a voucher
// code, so the failed tries count against the same lock: a wrong surname
// for a room with a live stay is a failed try on that stay's voucher, and
// MaxFailedTries of them lock it (staff reissue it). Errors are
// ErrVoucherInvalid (no such room, or the name does not match: one
// answer for both), ErrVoucherLocked and, for bad input, ErrInvalid.
func (s *Store) StayForRoom(ctx context.Context, by Actor, room, surname string) (Stay, error) {
	if err := checkActor(by); err != nil {
		return Stay{}, err
	}
	room = strings.TrimSpace(room)
	surname = strings.Join(strings.Fields(surname), " ")
	if room == "" || len(room) > maxRoomLen {
		return Stay{}, ErrVoucherInvalid
	}
	if n := len([]rune(surname)); n < minSurnameLen || n > maxSurnameLen {
		return Stay{}, ErrVoucherInvalid
	}
	if err := checkOptional("surname", surname, maxSurnameLen); err != nil {
		return Stay{}, err
	}
	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Stay{}, fmt.Errorf("vouchers: begin: %w", err)
	}
	defer tx.Rollback() // no-op after Commit

	rows, err := tx.QueryContext(ctx, `SELECT `+stayColumns+`, COALESCE(v.failed_tries, 0)
		 FROM stays s LEFT JOIN vouchers v ON v.stay_id = s.id
		 WHERE lower(s.room) = lower(?) AND s.check_out > ? AND s.ended_at IS NULL
		 ORDER BY s.id`, room, dbTime(now))
	if err != nil {
		return Stay{}, fmt.Errorf("vouchers: sign in: %w", err)
	}
	type candidate struct {
		st    Stay
		tries int
	}
	var live []candidate
	for rows.Next() {
		var r stayRow
		var tries int
		if err := rows.Scan(append(r.dest(), &tries)...); err != nil {
			rows.Close()
			return Stay{}, fmt.Errorf("vouchers: sign in: %w", err)
		}
		live = append(live, candidate{r.stay(), tries})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Stay{}, fmt.Errorf("vouchers: sign in: %w", err)
	}
	for _, c := range live {
		if !surnameMatches(c.st.GuestName, surname) {
			continue
		}
		if c.tries >= s.maxTries {
			return Stay{}, ErrVoucherLocked
		}
		if c.tries > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE vouchers SET failed_tries = 0 WHERE stay_id = ?`, c.st.ID); err != nil {
				return Stay{}, fmt.Errorf("vouchers: sign in: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return Stay{}, fmt.Errorf("vouchers: commit: %w", err)
		}
		return c.st, nil
	}
	// A wrong name for an occupied room: a failed try on each of its live
	// stays (usually one), so that guessing names locks as guessing codes
	// does.
	locked := false
	for _, c := range live {
		if c.tries >= s.maxTries {
			continue
		}
		tries := c.tries + 1
		var lockedAt any
		if tries >= s.maxTries {
			lockedAt = dbTime(now)
			locked = true
		}
		if _, err := tx.ExecContext(ctx, `UPDATE vouchers SET failed_tries = ?, locked_at = ? WHERE stay_id = ?`,
			tries, lockedAt, c.st.ID); err != nil {
			return Stay{}, fmt.Errorf("vouchers: sign in: %w", err)
		}
		if lockedAt != nil {
			if err := s.appendAudit(ctx, tx, by, now, "voucher.lock", stayRef(c.st.ID),
				fmt.Sprintf("locked after %d wrong room sign-ins", tries)); err != nil {
				return Stay{}, err
			}
			s.log.Warn("voucher locked", "stay", c.st.ID, "tries", tries, "via", SignInRoom, "from", by.Source)
		} else {
			s.log.Info("wrong surname for a room", "stay", c.st.ID, "tries", tries, "from", by.Source)
		}
	}
	if err := tx.Commit(); err != nil {
		return Stay{}, fmt.Errorf("vouchers: commit: %w", err)
	}
	if locked {
		return Stay{}, fmt.Errorf("%w (%w)", ErrVoucherInvalid, ErrVoucherLocked)
	}
	return Stay{}, ErrVoucherInvalid
}

// surnameMatches reports whether surname is the last whole words of the
// guest's name (or, for "Surname, Given", the part before the comma).
func surnameMatches(guestName, surname string) bool {
	want := strings.Fields(surname)
	if before, _, ok := strings.Cut(guestName, ","); ok {
		guestName = before
	}
	have := strings.Fields(guestName)
	if len(want) == 0 || len(want) > len(have) {
		return false
	}
	tail := have[len(have)-len(want):]
	for i := range want {
		if !strings.EqualFold(tail[i], want[i]) {
			return false
		}
	}
	return true
}

// EnrolGuest enrols a device for a stay the guest has just signed in to
// with StayForVoucher or StayForRoom (via is SignInVoucher or SignInRoom,
// and is audited). The rules are enrol's: the stay must not be over and
// the device cap applies (ErrDeviceCap).
func (s *Store) EnrolGuest(ctx context.Context, by Actor, stayID int64, via string, e Enrolment) (Device, *x509.Certificate, error) {
	if err := checkActor(by); err != nil {
		return Device{}, nil, err
	}
	if via != SignInVoucher && via != SignInRoom {
		return Device{}, nil, invalidf("sign-in %q is not %q or %q", via, SignInVoucher, SignInRoom)
	}
	key, err := e.publicKey()
	if err != nil {
		return Device{}, nil, err
	}
	now := s.now()
	var d Device
	var cert *x509.Certificate
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := s.stay(ctx, tx, stayID)
		if err != nil {
			return err
		}
		d, cert, err = s.enrol(ctx, tx, by, st, key, e, now, via)
		return err
	})
	if err != nil {
		return Device{}, nil, err
	}
	s.log.Info("device enrolled", "stay", stayID, "device", d.ID, "serial", d.Serial, "via", via, "by", by.Name, "from", by.Source)
	return d, cert, nil
}

// HoldsPlace reports whether d counts towards its stay's device cap at
// now, by the rule enrol and Authorize apply: not revoked, and with a
// certificate either unexpired or kept working past its NotAfter by an
// extended stay (whose check-out is later than it).
func HoldsPlace(d Device, st Stay, now time.Time) bool {
	return d.RevokedAt == nil && (d.NotAfter.After(now) || d.NotAfter.Before(st.CheckOut))
}
