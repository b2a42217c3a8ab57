package staff

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"keycard/vouchers"
)

// Account is a member of staff as the rest of Keycard sees them: never a
// secret, not even a hash.
type Account struct {
	ID                 int64
	Name               string
	Role               Role
	TOTPEnrolled       bool
	RecoveryCodesLeft  int
	MustChangePassword bool // the password is one an admin set or generated
	PasswordChangedAt  time.Time
	FailedPasswords    int // wrong passwords since the last right one
	FailedCodes        int // wrong codes since the last right one
	LockedUntil        *time.Time
	LockReason         string // "wrong passwords" or "wrong codes"
	Lockouts           int    // locks since the last successful login
	DisabledAt         *time.Time
	LastLoginAt        *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Locked reports whether the account is locked at now.
func (a Account) Locked(now time.Time) bool {
	return a.LockedUntil != nil && now.Before(*a.LockedUntil)
}

// Disabled reports whether an admin disabled the account.
func (a Account) Disabled() bool { return a.DisabledAt != nil }

// Can reports whether the account's role allows p (see Allowed).
func (a Account) Can(p Permission) bool { return a.DisabledAt == nil && Allowed(a.Role, p) }

// accountRow is an Account with what only this package reads.
type accountRow struct {
	Account
	passwordHash  string
	totpSealed    string
	pendingSealed string
	pendingAt     sql.NullInt64
	lastStep      int64
	nextAttemptAt int64
}

const accountColumns = `a.id, a.name, a.role, a.password_hash, a.password_changed_at, a.must_change_password,
	a.totp_sealed, a.totp_enrolled, a.totp_pending_sealed, a.totp_pending_at, a.totp_last_step,
	a.failed_passwords, a.failed_codes, a.next_attempt_at, a.locked_until, a.lock_reason, a.lockouts,
	a.disabled_at, a.last_login_at, a.created_at, a.updated_at,
	(SELECT COUNT(*) FROM staff_recovery_codes r WHERE r.account_id = a.id)`

type scanner interface{ Scan(dest ...any) error }

func scanAccount(row scanner, extra ...any) (accountRow, error) {
	var (
		a                                   accountRow
		role                                string
		changed, created, updated           int64
		locked, disabled, lastLogin         sql.NullInt64
		mustChange, enrolled                bool
		failedPasswords, failedCodes, locks int
	)
	dest := append([]any{&a.ID, &a.Name, &role, &a.passwordHash, &changed, &mustChange,
		&a.totpSealed, &enrolled, &a.pendingSealed, &a.pendingAt, &a.lastStep,
		&failedPasswords, &failedCodes, &a.nextAttemptAt, &locked, &a.LockReason, &locks,
		&disabled, &lastLogin, &created, &updated, &a.RecoveryCodesLeft}, extra...)
	if err := row.Scan(dest...); err != nil {
		return accountRow{}, err
	}
	a.Role = Role(role)
	a.PasswordChangedAt = fromDB(changed)
	a.MustChangePassword = mustChange
	a.TOTPEnrolled = enrolled
	a.FailedPasswords, a.FailedCodes, a.Lockouts = failedPasswords, failedCodes, locks
	a.LockedUntil = fromNull(locked)
	a.DisabledAt = fromNull(disabled)
	a.LastLoginAt = fromNull(lastLogin)
	a.CreatedAt, a.UpdatedAt = fromDB(created), fromDB(updated)
	return a, nil
}

// NormaliseName lowercases and trims a name as typed at login.
func NormaliseName(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// checkName validates an account name: 2 to 32 characters, a lowercase
// letter first, then lowercase letters, digits, '.', '_' or '-'.
func checkName(name string) error {
	if len(name) < 2 || len(name) > 32 {
		return invalidf("account name %q must be 2 to 32 characters", name)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'):
		default:
			return invalidf("account name %q: use lowercase letters, digits, '.', '_' and '-', starting with a letter", name)
		}
	}
	return nil
}

func (s *Store) accountBy(ctx context.Context, q queryer, where string, arg any) (accountRow, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM staff a WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return accountRow{}, fmt.Errorf("%w: %v", ErrUnknownAccount, arg)
	}
	if err != nil {
		return accountRow{}, fmt.Errorf("staff: read account: %w", err)
	}
	return a, nil
}

func (s *Store) accountByName(ctx context.Context, q queryer, name string) (accountRow, error) {
	return s.accountBy(ctx, q, `a.name = ?`, NormaliseName(name))
}

// Account returns the account called name (ErrUnknownAccount if none).
func (s *Store) Account(ctx context.Context, name string) (Account, error) {
	a, err := s.accountByName(ctx, s.db, name)
	return a.Account, err
}

// AccountByID returns the account with id (ErrUnknownAccount if none).
func (s *Store) AccountByID(ctx context.Context, id int64) (Account, error) {
	a, err := s.accountBy(ctx, s.db, `a.id = ?`, id)
	return a.Account, err
}

// Accounts lists every account, disabled ones too, by name.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountColumns+` FROM staff a ORDER BY a.name`)
	if err != nil {
		return nil, fmt.Errorf("staff: list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("staff: list accounts: %w", err)
		}
		out = append(out, a.Account)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("staff: list accounts: %w", err)
	}
	return out, nil
}

// NewAccount is what Add needs.
type NewAccount struct {
	Name string
	Role Role
	// Password is the first password; when empty a strong one is generated
	// and returned. Either way the holder must change it, and set up TOTP,
	// at the first login.
	Password string
}

// Add creates an account. It returns the generated password when
// a.Password was empty (show it once), or "".
func (s *Store) Add(ctx context.Context, by vouchers.Actor, a NewAccount) (Account, string, error) {
	if err := checkActor(by); err != nil {
		return Account{}, "", err
	}
	name := NormaliseName(a.Name)
	if err := checkName(name); err != nil {
		return Account{}, "", err
	}
	if _, err := ParseRole(string(a.Role)); err != nil {
		return Account{}, "", err
	}
	password, generated, err := s.passwordOrGenerated(name, a.Password)
	if err != nil {
		return Account{}, "", err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return Account{}, "", err
	}
	now := s.now()
	var id int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff WHERE name = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("staff: add %s: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: %s", ErrDuplicateAccount, name)
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO staff (name, role, password_hash, password_changed_at, must_change_password, created_at, updated_at)
			 VALUES (?, ?, ?, ?, 1, ?, ?)`, name, string(a.Role), hash, dbTime(now), dbTime(now), dbTime(now))
		if err != nil {
			return fmt.Errorf("staff: add %s: %w", name, err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("staff: add %s: %w", name, err)
		}
		return s.audit.AuditTx(ctx, tx, by, "staff.add", accountRef(name),
			fmt.Sprintf("role %s, %s; TOTP to be set up at first login", a.Role, passwordOrigin(generated)))
	})
	if err != nil {
		return Account{}, "", err
	}
	s.log.Info("staff account added", "name", name, "role", string(a.Role), "by", by.Name)
	acct, err := s.AccountByID(ctx, id)
	if !generated {
		password = ""
	}
	return acct, password, err
}

func passwordOrigin(generated bool) string {
	if generated {
		return "password generated"
	}
	return "password set by the admin"
}

// passwordOrGenerated checks a given password against the policy, or
// generates one.
func (s *Store) passwordOrGenerated(name, password string) (string, bool, error) {
	if password == "" {
		p, err := s.generatePassword()
		return p, true, err
	}
	return password, false, CheckPassword(name, password)
}

// Disable stops an account: its sessions end at once and it cannot log in
// until Enable. Disabling a disabled account changes nothing.
func (s *Store) Disable(ctx context.Context, by vouchers.Actor, name string) (Account, error) {
	return s.adminChange(ctx, by, name, func(tx *sql.Tx, a accountRow, now time.Time) (string, string, error) {
		if a.DisabledAt != nil {
			return "", "", nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET disabled_at = ?, updated_at = ? WHERE id = ?`,
			dbTime(now), dbTime(now), a.ID); err != nil {
			return "", "", err
		}
		ended, err := endAllTx(ctx, tx, a.ID)
		return "staff.disable", fmt.Sprintf("%s ended", sessionsText(ended)), err
	})
}

// Enable lets a disabled account log in again.
func (s *Store) Enable(ctx context.Context, by vouchers.Actor, name string) (Account, error) {
	return s.adminChange(ctx, by, name, func(tx *sql.Tx, a accountRow, now time.Time) (string, string, error) {
		if a.DisabledAt == nil {
			return "", "", nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE staff SET disabled_at = NULL, updated_at = ? WHERE id = ?`, dbTime(now), a.ID)
		return "staff.enable", "", err
	})
}

// SetRole changes an account's role; it applies to the account's open
// sessions at their next request.
func (s *Store) SetRole(ctx context.Context, by vouchers.Actor, name string, role Role) (Account, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Account{}, err
	}
	return s.adminChange(ctx, by, name, func(tx *sql.Tx, a accountRow, now time.Time) (string, string, error) {
		if a.Role == role {
			return "", "", nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE staff SET role = ?, updated_at = ? WHERE id = ?`, string(role), dbTime(now), a.ID)
		return "staff.role", fmt.Sprintf("%s -> %s", a.Role, role), err
	})
}

// ResetPassword sets a new password for the account called name (an admin
// acting: the holder forgot it, or it is locked). When password is empty
// one is generated and returned. The account's sessions end, its lock and
// failure counts are cleared, and the holder must change the password at
// the next login. TOTP is left as it is.
func (s *Store) ResetPassword(ctx context.Context, by vouchers.Actor, name, password string) (string, error) {
	a, err := s.accountByName(ctx, s.db, name)
	if err != nil {
		return "", err
	}
	password, generated, err := s.passwordOrGenerated(a.Name, password)
	if err != nil {
		return "", err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return "", err
	}
	_, err = s.adminChange(ctx, by, name, func(tx *sql.Tx, a accountRow, now time.Time) (string, string, error) {
		if _, err := tx.ExecContext(ctx,
			`UPDATE staff SET password_hash = ?, password_changed_at = ?, must_change_password = 1,
			   failed_passwords = 0, failed_codes = 0, next_attempt_at = 0, locked_until = NULL, lock_reason = '', lockouts = 0,
			   updated_at = ?
			 WHERE id = ?`, hash, dbTime(now), dbTime(now), a.ID); err != nil {
			return "", "", err
		}
		ended, err := endAllTx(ctx, tx, a.ID)
		detail := fmt.Sprintf("%s; %s ended", passwordOrigin(generated), sessionsText(ended))
		if a.Locked(now) {
			detail += "; lock lifted"
		}
		return "staff.password.reset", detail, err
	})
	if err != nil {
		return "", err
	}
	if !generated {
		password = ""
	}
	return password, nil
}

// ResetTOTP removes the account's TOTP secret and recovery codes (the
// holder lost the phone) and ends its sessions. At the next login the
// password alone leads to setting up a new authenticator app: hand the
// account back in person, and reset the password too if it may be known
// to someone else (a lock after wrong codes means it is).
func (s *Store) ResetTOTP(ctx context.Context, by vouchers.Actor, name string) (Account, error) {
	return s.adminChange(ctx, by, name, func(tx *sql.Tx, a accountRow, now time.Time) (string, string, error) {
		if _, err := tx.ExecContext(ctx,
			`UPDATE staff SET totp_sealed = '', totp_enrolled = 0, totp_pending_sealed = '', totp_pending_at = NULL,
			   totp_last_step = 0, failed_codes = 0, updated_at = ?
			 WHERE id = ?`, dbTime(now), a.ID); err != nil {
			return "", "", err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_recovery_codes WHERE account_id = ?`, a.ID); err != nil {
			return "", "", err
		}
		ended, err := endAllTx(ctx, tx, a.ID)
		return "staff.2fa.reset", fmt.Sprintf("TOTP and %d recovery code(s) removed, to be set up at next login; %s ended",
			a.RecoveryCodesLeft, sessionsText(ended)), err
	})
}

// adminChange runs change on the account called name in one transaction
// with its audit entry; change returns the action and detail to audit, or
// an empty action when there was nothing to do.
func (s *Store) adminChange(ctx context.Context, by vouchers.Actor, name string,
	change func(tx *sql.Tx, a accountRow, now time.Time) (action, detail string, err error)) (Account, error) {
	if err := checkActor(by); err != nil {
		return Account{}, err
	}
	now := s.now()
	var id int64
	var action string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.accountByName(ctx, tx, name)
		if err != nil {
			return err
		}
		id = a.ID
		var detail string
		if action, detail, err = change(tx, a, now); err != nil {
			return fmt.Errorf("staff: %s: %w", a.Name, err)
		}
		if action == "" {
			return nil
		}
		return s.audit.AuditTx(ctx, tx, by, action, accountRef(a.Name), detail)
	})
	if err != nil {
		return Account{}, err
	}
	if action != "" {
		s.log.Info("staff account changed", "action", action, "name", NormaliseName(name), "by", by.Name)
	}
	return s.AccountByID(ctx, id)
}

func sessionsText(n int64) string {
	if n == 1 {
		return "1 session"
	}
	return fmt.Sprintf("%d sessions", n)
}
