package vouchers

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// CodeAlphabet is the set of characters in voucher codes: digits and
// capital letters without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 8/B).
// 25 symbols carry about 4.6 bits each.
const CodeAlphabet = "34679ACDEFGHJKMNPQRTUVWXY"

const (
	groupLen      = 4 // characters per group; the first group is the selector
	minCodeGroups = 3 // selector + at least 8 secret characters (~37 bits)
	maxCodeGroups = 8
)

// NormaliseCode turns what a guest typed into the canonical compact form
// of a voucher code: upper case, without dashes or spaces. It rejects
// characters outside CodeAlphabet and lengths that cannot be a code.
func NormaliseCode(code string) (string, error) {
	if len(code) > 2*groupLen*maxCodeGroups {
		return "", errors.New("vouchers: voucher code is too long")
	}
	var b strings.Builder
	b.Grow(len(code))
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == '-' || c == ' ' || c == '\t':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		if strings.IndexByte(CodeAlphabet, c) < 0 {
			return "", fmt.Errorf("vouchers: voucher code contains %q; codes use only %s", rune(code[i]), CodeAlphabet)
		}
		b.WriteByte(c)
	}
	n := b.Len()
	if n%groupLen != 0 || n < minCodeGroups*groupLen || n > maxCodeGroups*groupLen {
		return "", fmt.Errorf("vouchers: voucher code has %d characters; expected groups of %d, %d to %d groups",
			n, groupLen, minCodeGroups, maxCodeGroups)
	}
	return b.String(), nil
}

// FormatCode writes a compact code in dashed groups: K7QXM4TR9PCW → K7QX-M4TR-9PCW.
func FormatCode(compact string) string {
	var b strings.Builder
	for i := 0; i < len(compact); i += groupLen {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(compact[i:min(i+groupLen, len(compact))])
	}
	return b.String()
}

// splitCode returns the public selector and the secret verifier of code.
func splitCode(code string) (selector, verifier string, err error) {
	c, err := NormaliseCode(code)
	if err != nil {
		return "", "", err
	}
	return c[:groupLen], c[groupLen:], nil
}

// kdfParams are the argon2id costs of hashing a voucher verifier.
type kdfParams struct {
	time      uint32
	memoryKiB uint32
	threads   uint8
}

// defaultKDF is OWASP's minimum for argon2id (19 MiB, 1 pass, 1 lane):
// some 20 ms per redemption, which is rare, against hours per core for
// whoever cracks a ~37-bit verifier from a copy of the database. Tests
// lower it.
var defaultKDF = kdfParams{time: 1, memoryKiB: 19 * 1024, threads: 1}

const (
	verifierSaltLen = 16 // random bytes per voucher, stored hex in verifier_salt
	verifierKeyLen  = 32
)

// dummySalt stands in for a voucher's salt when the selector is unknown.
var dummySalt = make([]byte, verifierSaltLen)

// verifierHash is what the database keeps of a voucher's secret: argon2id
// of the verifier, salted with the selector and the voucher's random salt,
// labelled with the algorithm and costs so that a later change of either
// can tell old rows apart.
func (p kdfParams) verifierHash(selector, verifier string, salt []byte) string {
	key := argon2.IDKey([]byte(verifier), append([]byte(selector), salt...), p.time, p.memoryKiB, p.threads, verifierKeyLen)
	return fmt.Sprintf("argon2id$m=%d,t=%d,p=%d$%s", p.memoryKiB, p.time, p.threads, hex.EncodeToString(key))
}

// newCode draws groups*4 characters uniformly from CodeAlphabet.
func newCode(r io.Reader, groups int) (string, error) {
	const n = byte(len(CodeAlphabet))
	const limit = 256 - 256%int(n) // reject bytes above the largest multiple of n
	out := make([]byte, 0, groups*groupLen)
	buf := make([]byte, 32)
	for len(out) < cap(out) {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("vouchers: voucher randomness: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < cap(out) {
				out = append(out, CodeAlphabet[b%n])
			}
		}
	}
	return string(out), nil
}

// issueVoucher gives stayID a fresh code, replacing its old voucher (and
// its failed tries). A selector still held by a live stay is never reused;
// one held by a stay that is over is taken over.
func (s *Store) issueVoucher(ctx context.Context, tx *sql.Tx, stayID int64, now time.Time) (string, error) {
	for range 32 {
		code, err := newCode(s.rand, s.groups)
		if err != nil {
			return "", err
		}
		selector, verifier := code[:groupLen], code[groupLen:]
		var holder int64
		var checkOut int64
		var ended sql.NullInt64
		err = tx.QueryRowContext(ctx,
			`SELECT v.stay_id, s.check_out, s.ended_at FROM vouchers v JOIN stays s ON s.id = v.stay_id WHERE v.selector = ?`,
			selector).Scan(&holder, &checkOut, &ended)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return "", fmt.Errorf("vouchers: issue voucher: %w", err)
		case holder != stayID && !ended.Valid && checkOut > dbTime(now):
			continue // a live stay's selector: draw again
		default:
			if _, err := tx.ExecContext(ctx, `DELETE FROM vouchers WHERE selector = ?`, selector); err != nil {
				return "", fmt.Errorf("vouchers: issue voucher: %w", err)
			}
		}
		salt := make([]byte, verifierSaltLen)
		if _, err := io.ReadFull(s.rand, salt); err != nil {
			return "", fmt.Errorf("vouchers: voucher salt: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO vouchers (stay_id, selector, verifier_salt, verifier_hash, failed_tries, locked_at, issued_at)
			 VALUES (?, ?, ?, ?, 0, NULL, ?)
			 ON CONFLICT (stay_id) DO UPDATE SET selector = excluded.selector,
			   verifier_salt = excluded.verifier_salt, verifier_hash = excluded.verifier_hash,
			   failed_tries = 0, locked_at = NULL, issued_at = excluded.issued_at`,
			stayID, selector, hex.EncodeToString(salt), s.kdf.verifierHash(selector, verifier, salt), dbTime(now)); err != nil {
			return "", fmt.Errorf("vouchers: issue voucher: %w", err)
		}
		return FormatCode(code), nil
	}
	return "", errors.New("vouchers: issue voucher: no free selector after 32 draws; raise vouchers.code_groups or check the randomness source")
}

// ReissueVoucher gives a live stay a new voucher code: the old code stops
// working at once and the failed-try count (and any lock) is cleared.
// Devices already enrolled are not affected.
func (s *Store) ReissueVoucher(ctx context.Context, by Actor, stayID int64) (string, error) {
	if err := checkActor(by); err != nil {
		return "", err
	}
	now := s.now()
	var code string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := s.stay(ctx, tx, stayID)
		if err != nil {
			return err
		}
		if st.Over(now) {
			return fmt.Errorf("%w: stay %d is over; no new voucher", ErrStayEnded, stayID)
		}
		if code, err = s.issueVoucher(ctx, tx, stayID, now); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, by, now, "voucher.reissue", stayRef(stayID), "previous code invalidated, failed tries reset")
	})
	if err != nil {
		return "", err
	}
	s.log.Info("voucher reissued", "stay", stayID, "by", by.Name)
	return code, nil
}

// Redeem enrols a guest's device with a voucher code. It fails with
// ErrVoucherInvalid (malformed, unknown or wrong code — one message for
// all), ErrVoucherLocked, ErrStayEnded, ErrDeviceCap, or an ErrInvalid
// error for a bad key or CSR. A wrong code for a known voucher counts a
// failed try; MaxFailedTries of them lock the voucher until staff reissue
// it. A stay that has not started yet may be redeemed: the guest enrols in
// the lobby and Authorize admits the device from check-in.
func (s *Store) Redeem(ctx context.Context, by Actor, code string, e Enrolment) (Device, *x509.Certificate, error) {
	if err := checkActor(by); err != nil {
		return Device{}, nil, err
	}
	key, err := e.publicKey()
	if err != nil {
		return Device{}, nil, err
	}
	selector, verifier, err := splitCode(code)
	if err != nil {
		return Device{}, nil, ErrVoucherInvalid
	}
	// The hash takes tens of milliseconds: compute it before the write
	// transaction, which locks the database, and check in the transaction
	// that the voucher is still the one hashed against.
	var salt, stored string
	var tries int
	err = s.db.QueryRowContext(ctx, `SELECT verifier_salt, verifier_hash, failed_tries FROM vouchers WHERE selector = ?`,
		selector).Scan(&salt, &stored, &tries)
	if errors.Is(err, sql.ErrNoRows) {
		// Hash anyway, so that an unknown selector takes as long as a
		// wrong verifier and timing does not tell which selectors exist.
		_ = s.kdf.verifierHash(selector, verifier, dummySalt)
		return Device{}, nil, ErrVoucherInvalid
	}
	if err != nil {
		return Device{}, nil, fmt.Errorf("vouchers: redeem: %w", err)
	}
	if tries >= s.maxTries {
		return Device{}, nil, ErrVoucherLocked
	}
	saltBytes, err := hex.DecodeString(salt)
	if err != nil || len(saltBytes) != verifierSaltLen {
		// Not a row issueVoucher wrote (0002 locked the older ones).
		return Device{}, nil, fmt.Errorf("vouchers: redeem: voucher %s has a malformed salt", selector)
	}
	match := subtle.ConstantTimeCompare([]byte(s.kdf.verifierHash(selector, verifier, saltBytes)), []byte(stored)) == 1

	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Device{}, nil, fmt.Errorf("vouchers: begin: %w", err)
	}
	defer tx.Rollback() // no-op after Commit

	var stayID int64
	var current string
	err = tx.QueryRowContext(ctx, `SELECT stay_id, verifier_hash, failed_tries FROM vouchers WHERE selector = ?`,
		selector).Scan(&stayID, &current, &tries)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && current != stored) {
		// Reissued or taken over meanwhile: the code was for a voucher
		// that is gone, and is no try against the new one.
		return Device{}, nil, ErrVoucherInvalid
	}
	if err != nil {
		return Device{}, nil, fmt.Errorf("vouchers: redeem: %w", err)
	}
	if tries >= s.maxTries {
		return Device{}, nil, ErrVoucherLocked
	}
	if !match {
		return Device{}, nil, s.failedTry(ctx, tx, by, stayID, tries+1, now)
	}
	if tries > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE vouchers SET failed_tries = 0 WHERE stay_id = ?`, stayID); err != nil {
			return Device{}, nil, fmt.Errorf("vouchers: redeem: %w", err)
		}
	}
	st, err := s.stay(ctx, tx, stayID)
	if err != nil {
		return Device{}, nil, err
	}
	d, cert, err := s.enrol(ctx, tx, by, st, key, e, now, "voucher")
	if err != nil {
		return Device{}, nil, err
	}
	if err := tx.Commit(); err != nil {
		return Device{}, nil, fmt.Errorf("vouchers: commit: %w", err)
	}
	s.log.Info("device enrolled", "stay", st.ID, "device", d.ID, "serial", d.Serial, "via", "voucher", "by", by.Name, "from", by.Source)
	return d, cert, nil
}

// failedTry counts a wrong code against the voucher of stayID, locks it at
// MaxFailedTries, commits, and returns the error for the guest.
func (s *Store) failedTry(ctx context.Context, tx *sql.Tx, by Actor, stayID int64, tries int, now time.Time) error {
	locked := tries >= s.maxTries
	var lockedAt any
	if locked {
		lockedAt = dbTime(now)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE vouchers SET failed_tries = ?, locked_at = ? WHERE stay_id = ?`,
		tries, lockedAt, stayID); err != nil {
		return fmt.Errorf("vouchers: redeem: %w", err)
	}
	if locked {
		if err := s.appendAudit(ctx, tx, by, now, "voucher.lock", stayRef(stayID),
			fmt.Sprintf("locked after %d wrong codes", tries)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("vouchers: commit: %w", err)
	}
	if locked {
		s.log.Warn("voucher locked", "stay", stayID, "tries", tries, "from", by.Source)
		return fmt.Errorf("%w (%w)", ErrVoucherInvalid, ErrVoucherLocked)
	}
	s.log.Info("wrong voucher code", "stay", stayID, "tries", tries, "from", by.Source)
	return ErrVoucherInvalid
}
