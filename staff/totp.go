package staff

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP as every authenticator app does it (RFC 6238): SHA-1, 6 digits, a
// 30-second step, a 160-bit secret. One step either side is accepted for
// the phone's clock.
const (
	totpPeriod     = 30
	totpSecretSize = 20
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Enrolment is a new TOTP secret to show as a QR code (URL, an otpauth://
// URL) or to type into the app (Secret, base32). It takes effect only when
// confirmed with a code from the app.
type Enrolment struct {
	Account string
	Issuer  string
	URL     string
	Secret  string
	Expires time.Time // confirm before this
}

func totpContext(id int64) string    { return "staff:totp:" + strconv.FormatInt(id, 10) }
func pendingContext(id int64) string { return "staff:totp-pending:" + strconv.FormatInt(id, 10) }

// step is the TOTP time step at t.
func step(t time.Time) int64 { return t.Unix() / totpPeriod }

// codeShape tells a TOTP code ("123 456") from a recovery code.
func totpShape(code string) (string, bool) {
	c := strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(code))
	if len(c) != 6 {
		return "", false
	}
	for _, r := range c {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return c, true
}

// matchTOTP returns the time step, among now's and the one either side,
// whose code is code; -1 when none. All three are always computed.
func matchTOTP(secret, code string, now time.Time) int64 {
	matched := int64(-1)
	cur := step(now)
	for _, st := range []int64{cur - 1, cur, cur + 1} {
		ok, err := totp.ValidateCustom(code, secret, time.Unix(st*totpPeriod, 0), totpOpts)
		if err == nil && ok {
			matched = st
		}
	}
	return matched
}

// newEnrolment draws a TOTP secret for the account and stores it sealed as
// pending: an earlier pending secret still fresh is shown again instead, so
// reloading the QR page does not invalidate what the phone scanned.
func (s *Store) newEnrolment(ctx context.Context, tx *sql.Tx, a accountRow, now time.Time) (Enrolment, error) {
	if s.box == nil {
		return Enrolment{}, ErrNoSecretBox
	}
	var secret string
	if a.pendingSealed != "" && a.pendingAt.Valid && now.Sub(fromDB(a.pendingAt.Int64)) < s.pending {
		b, err := s.box.Open(pendingContext(a.ID), a.pendingSealed)
		if err != nil {
			return Enrolment{}, fmt.Errorf("staff: open pending TOTP secret of %s: %w", a.Name, err)
		}
		secret = string(b)
	} else {
		key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: a.Name, SecretSize: totpSecretSize, Rand: s.rand})
		if err != nil {
			return Enrolment{}, fmt.Errorf("staff: new TOTP secret: %w", err)
		}
		secret = key.Secret()
		sealed, err := s.box.Seal(pendingContext(a.ID), []byte(secret))
		if err != nil {
			return Enrolment{}, fmt.Errorf("staff: seal TOTP secret: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET totp_pending_sealed = ?, totp_pending_at = ?, updated_at = ? WHERE id = ?`,
			sealed, dbTime(now), dbTime(now), a.ID); err != nil {
			return Enrolment{}, fmt.Errorf("staff: store TOTP secret: %w", err)
		}
		a.pendingAt = sql.NullInt64{Int64: dbTime(now), Valid: true}
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: a.Name, Secret: mustBase32(secret)})
	if err != nil {
		return Enrolment{}, fmt.Errorf("staff: TOTP URL: %w", err)
	}
	return Enrolment{Account: a.Name, Issuer: s.issuer, URL: key.URL(), Secret: secret,
		Expires: fromDB(a.pendingAt.Int64).Add(s.pending)}, nil
}

// openTOTP returns the account's active TOTP secret.
func (s *Store) openTOTP(a accountRow) (string, error) {
	if s.box == nil {
		return "", ErrNoSecretBox
	}
	b, err := s.box.Open(totpContext(a.ID), a.totpSealed)
	if err != nil {
		return "", fmt.Errorf("staff: open TOTP secret of %s: %w", a.Name, err)
	}
	return string(b), nil
}

// openPending returns the account's pending TOTP secret, or "" when there
// is none or it is older than PendingLifetime.
func (s *Store) openPending(a accountRow, now time.Time) (string, error) {
	if s.box == nil {
		return "", ErrNoSecretBox
	}
	if a.pendingSealed == "" || !a.pendingAt.Valid || now.Sub(fromDB(a.pendingAt.Int64)) >= s.pending {
		return "", nil
	}
	b, err := s.box.Open(pendingContext(a.ID), a.pendingSealed)
	if err != nil {
		return "", fmt.Errorf("staff: open pending TOTP secret of %s: %w", a.Name, err)
	}
	return string(b), nil
}

// activatePending makes secret the account's TOTP secret (sealed under the
// active context), records the step its confirming code used, and gives
// the account fresh recovery codes, which it returns.
func (s *Store) activatePending(ctx context.Context, tx *sql.Tx, a accountRow, secret string, st int64, now time.Time) ([]string, error) {
	sealed, err := s.box.Seal(totpContext(a.ID), []byte(secret))
	if err != nil {
		return nil, fmt.Errorf("staff: seal TOTP secret: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE staff SET totp_sealed = ?, totp_enrolled = 1, totp_pending_sealed = '', totp_pending_at = NULL,
		   totp_last_step = ?, updated_at = ?
		 WHERE id = ?`, sealed, st, dbTime(now), a.ID); err != nil {
		return nil, fmt.Errorf("staff: store TOTP secret: %w", err)
	}
	return s.newRecoveryCodes(ctx, tx, a.ID, now)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func mustBase32(secret string) []byte {
	b, err := b32.DecodeString(secret)
	if err != nil {
		panic(err) // made by totp.Generate
	}
	return b
}

// RecoveryCodeCount is how many recovery codes an account gets at a time.
const RecoveryCodeCount = 10

// Recovery codes are 16 characters from codeAlphabet (80 random bits),
// shown as four groups: "7k2q-9xmd-4hft-w3ab". With 80 bits no one can
// search them from a copy of the database, so a plain SHA-256 (bound to
// the account) keeps them as well as argon2id would, and finds a code with
// one indexed lookup rather than ten slow hashes.
const (
	recoveryGroups    = 4
	recoveryGroupSize = 4
)

func recoveryHash(accountID int64, normalised string) string {
	sum := sha256.Sum256([]byte("keycard staff recovery v1\x00" + strconv.FormatInt(accountID, 10) + "\x00" + normalised))
	return hex.EncodeToString(sum[:])
}

// normaliseRecovery reads a recovery code as typed: any case, with or
// without dashes and spaces, o for 0 and i or l for 1.
func normaliseRecovery(code string) (string, bool) {
	c := strings.NewReplacer("-", "", " ", "", "o", "0", "i", "1", "l", "1").Replace(strings.ToLower(strings.TrimSpace(code)))
	if len(c) != recoveryGroups*recoveryGroupSize {
		return "", false
	}
	for _, r := range c {
		if !strings.ContainsRune(codeAlphabet, r) {
			return "", false
		}
	}
	return c, true
}

// newRecoveryCodes replaces the account's recovery codes with new ones.
func (s *Store) newRecoveryCodes(ctx context.Context, tx *sql.Tx, accountID int64, now time.Time) ([]string, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM staff_recovery_codes WHERE account_id = ?`, accountID); err != nil {
		return nil, fmt.Errorf("staff: recovery codes: %w", err)
	}
	codes := make([]string, 0, RecoveryCodeCount)
	for len(codes) < RecoveryCodeCount {
		code, err := randomCode(s.rand, recoveryGroups, recoveryGroupSize)
		if err != nil {
			return nil, err
		}
		n, _ := normaliseRecovery(code)
		res, err := tx.ExecContext(ctx,
			`INSERT INTO staff_recovery_codes (account_id, code_hash, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			accountID, recoveryHash(accountID, n), dbTime(now))
		if err != nil {
			return nil, fmt.Errorf("staff: recovery codes: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			codes = append(codes, code)
		}
	}
	return codes, nil
}

// useRecoveryCode deletes the account's recovery code matching code and
// reports whether there was one.
func useRecoveryCode(ctx context.Context, tx *sql.Tx, accountID int64, code string) (bool, error) {
	n, ok := normaliseRecovery(code)
	if !ok {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM staff_recovery_codes WHERE account_id = ? AND code_hash = ?`,
		accountID, recoveryHash(accountID, n))
	if err != nil {
		return false, fmt.Errorf("staff: recovery code: %w", err)
	}
	k, err := res.RowsAffected()
	return k == 1, err
}
