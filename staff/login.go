package staff

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"keycard/vouchers"
)

// A login has two steps, each one call:
//
//  1. Login(name, password): on the right password it returns a Pending
//     login whose token goes in the login cookie. It lets only step 2 run,
//     for PendingLifetime.
//  2. SecondFactor(pending token, code) with a TOTP code or a recovery
//     code; or, for an account without TOTP yet (new, or after
//     ResetTOTP), BeginEnrolment(pending token) for the QR code and
//     ConfirmEnrolment(pending token, code from the app). Either returns
//     a LoggedIn with the session's token, for the session cookie.
//
// Guessing is slowed and stopped three ways (see doc.go): a growing delay
// after each wrong password or code, a lock of the account after
// MaxFailedPasswords wrong passwords or MaxFailedCodes wrong codes in a
// row, and a block of a client address after AddressMaxFailures failures.

// Pending is a login past its password, waiting for its second step.
type Pending struct {
	Token     string // for the login cookie; lets only the second step run
	Account   Account
	Enrol     bool // no TOTP yet: BeginEnrolment, then ConfirmEnrolment
	ExpiresAt time.Time
}

// LoggedIn is a finished login (or a password change, which starts a new
// session).
type LoggedIn struct {
	Token   string // for the session cookie
	Session Session
	Account Account
	// RecoveryCodes are shown once, after TOTP was set up.
	RecoveryCodes []string
	// UsedRecoveryCode: the second factor was a recovery code; tell the
	// user how many are left (Account.RecoveryCodesLeft).
	UsedRecoveryCode bool
}

// refusal is why an attempt failed, as logged and audited.
type refusal string

const (
	refUnknownName    refusal = "unknown name"
	refWrongPassword  refusal = "wrong password"
	refWrongCode      refusal = "wrong code"
	refReplayedCode   refusal = "replayed code"
	refLocked         refusal = "account locked"
	refTooSoon        refusal = "too soon after a wrong attempt"
	refDisabled       refusal = "account disabled"
	refNoLogin        refusal = "no login in progress"
	refAddressBlocked refusal = "address blocked"
)

// Login checks name and password, the first step of a login. The right
// password gives a Pending login; a wrong one ErrLoginFailed (the same for
// an unknown name, which costs the same hash); a locked account a
// *LockedError saying what to do; an attempt within the delay after a
// wrong one, or from a blocked address, a *RetryError, without checking
// the password. A disabled account gets ErrDisabled, only after the right
// password.
func (s *Store) Login(ctx context.Context, name, password, client string) (Pending, error) {
	now := s.now()
	if err := s.addressBlocked(client, now); err != nil {
		return Pending{}, err
	}
	name = NormaliseName(name)
	a, err := s.accountByName(ctx, s.db, name)
	if errors.Is(err, ErrUnknownAccount) || checkName(name) != nil {
		_, _, _ = s.verifyPassword(ctx, s.dummyHash(), password)
		s.log.Warn("staff login refused", "reason", string(refUnknownName), "client", client)
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			return s.auditRefusal(ctx, tx, nil, client, "login", refUnknownName, "")
		})
		s.addressFailed(ctx, client, now)
		if err != nil {
			return Pending{}, err
		}
		return Pending{}, ErrLoginFailed
	}
	if err != nil {
		return Pending{}, err
	}
	if err := s.reservePasswordTry(ctx, a.ID, client, "login", now); err != nil {
		return Pending{}, err
	}
	ok, rehash, err := s.verifyPassword(ctx, a.passwordHash, password)
	if err != nil {
		return Pending{}, fmt.Errorf("%w (account %s)", err, a.Name)
	}
	if !ok {
		return Pending{}, s.wrongPassword(ctx, a.ID, client, "login", now)
	}
	var newHash string
	if rehash {
		if newHash, err = s.hashPassword(ctx, password); err != nil {
			return Pending{}, err
		}
	}
	var out Pending
	var refused error
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.rightPassword(ctx, tx, a.ID, newHash, client, now)
		if err != nil {
			return err
		}
		if a.DisabledAt != nil {
			refused = ErrDisabled
			return s.auditRefusal(ctx, tx, &a, client, "login", refDisabled, "the password was right")
		}
		token, sess, err := s.insertSession(ctx, tx, a.ID, stageSecondFactor, client, now)
		if err != nil {
			return err
		}
		out = Pending{Token: token, Account: a.Account, Enrol: !a.TOTPEnrolled, ExpiresAt: sess.ExpiresAt}
		return nil
	})
	if err != nil {
		return Pending{}, err
	}
	if refused != nil {
		s.log.Warn("staff login refused", "reason", string(refDisabled), "name", name, "client", client)
		s.addressFailed(ctx, client, now)
		return Pending{}, refused
	}
	return out, nil
}

// SecondFactor finishes a login with a TOTP code from the app or one of
// the recovery codes, and starts the session. A TOTP code is good once: a
// code of a time step already used is refused (ErrCodeReplayed), as is a
// recovery code already used.
func (s *Store) SecondFactor(ctx context.Context, pendingToken, code, client string) (LoggedIn, error) {
	return s.finishLogin(ctx, pendingToken, client, func(tx *sql.Tx, a accountRow, now time.Time) (string, []string, bool, error, error) {
		if !a.TOTPEnrolled {
			return "", nil, false, ErrEnrolmentRequired, nil
		}
		secret, err := s.openTOTP(a)
		if err != nil {
			return "", nil, false, nil, err
		}
		refused, recovery, _, err := s.checkCode(ctx, tx, a, secret, code, anyCode, client, "login", now)
		if refused != nil || err != nil {
			return "", nil, false, refused, err
		}
		how := "password and TOTP code"
		if recovery {
			how = fmt.Sprintf("password and a recovery code (%d left)", a.RecoveryCodesLeft-1)
		}
		return how, nil, recovery, nil, nil
	})
}

// BeginEnrolment makes the TOTP secret for an account logging in for the
// first time (or after ResetTOTP): show Enrolment.URL as a QR code, and
// Secret for typing in. Calling it again within PendingLifetime shows the
// same secret.
func (s *Store) BeginEnrolment(ctx context.Context, pendingToken string) (Enrolment, error) {
	now := s.now()
	var e Enrolment
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, a, err := s.pendingLogin(ctx, tx, pendingToken, now)
		if err != nil {
			return err
		}
		if a.TOTPEnrolled {
			return ErrAlreadyEnrolled
		}
		e, err = s.newEnrolment(ctx, tx, a, now)
		return err
	})
	return e, err
}

// ConfirmEnrolment checks a code from the app against the secret
// BeginEnrolment made, makes it the account's, issues the recovery codes
// (in LoggedIn.RecoveryCodes: show them once) and starts the session.
func (s *Store) ConfirmEnrolment(ctx context.Context, pendingToken, code, client string) (LoggedIn, error) {
	return s.finishLogin(ctx, pendingToken, client, func(tx *sql.Tx, a accountRow, now time.Time) (string, []string, bool, error, error) {
		if a.TOTPEnrolled {
			return "", nil, false, ErrAlreadyEnrolled, nil
		}
		secret, err := s.openPending(a, now)
		if err != nil {
			return "", nil, false, nil, err
		}
		if secret == "" {
			return "", nil, false, invalidf("the QR code expired or was never shown: set the app up again"), nil
		}
		refused, _, st, err := s.checkCode(ctx, tx, a, secret, code, pendingTOTP, client, "TOTP set-up", now)
		if refused != nil || err != nil {
			return "", nil, false, refused, err
		}
		codes, err := s.activatePending(ctx, tx, a, secret, st, now)
		if err != nil {
			return "", nil, false, nil, err
		}
		if err := s.audit.AuditTx(ctx, tx, staffActor(a.Name, client), "staff.2fa.enrol", accountRef(a.Name),
			fmt.Sprintf("TOTP set up at login; %d recovery codes issued", len(codes))); err != nil {
			return "", nil, false, nil, err
		}
		return "password and a newly set up TOTP", codes, false, nil, nil
	})
}

// finishLogin runs a second step in one transaction: check runs it and
// returns how the login went for the audit log, or the refusal. On success
// the pending login becomes a session.
func (s *Store) finishLogin(ctx context.Context, pendingToken, client string,
	check func(tx *sql.Tx, a accountRow, now time.Time) (how string, codes []string, recovery bool, refused, err error)) (LoggedIn, error) {
	now := s.now()
	if err := s.addressBlocked(client, now); err != nil {
		return LoggedIn{}, err
	}
	var out LoggedIn
	var refused error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		pending, a, err := s.pendingLogin(ctx, tx, pendingToken, now)
		if errors.Is(err, ErrSessionInvalid) {
			refused = err
			return nil
		}
		if err != nil {
			return err
		}
		if a.DisabledAt != nil {
			refused = ErrDisabled
			if _, err := endAllTx(ctx, tx, a.ID); err != nil {
				return err
			}
			return s.auditRefusal(ctx, tx, &a, client, "login", refDisabled, "")
		}
		how, codes, recovery, ref, err := check(tx, a, now)
		if err != nil {
			return err
		}
		if ref != nil {
			refused = ref
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE id = ?`, pending.ID); err != nil {
			return fmt.Errorf("staff: login: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE staff SET failed_passwords = 0, failed_codes = 0, next_attempt_at = 0, lockouts = 0,
			   last_login_at = ?, updated_at = ? WHERE id = ?`, dbTime(now), dbTime(now), a.ID); err != nil {
			return fmt.Errorf("staff: login: %w", err)
		}
		token, sess, err := s.insertSession(ctx, tx, a.ID, stageFull, client, now)
		if err != nil {
			return err
		}
		if err := s.audit.AuditTx(ctx, tx, staffActor(a.Name, client), "staff.login", accountRef(a.Name),
			fmt.Sprintf("%s; session %d", how, sess.ID)); err != nil {
			return err
		}
		acct, err := s.accountBy(ctx, tx, `a.id = ?`, a.ID)
		if err != nil {
			return err
		}
		out = LoggedIn{Token: token, Session: sess, Account: acct.Account, RecoveryCodes: codes, UsedRecoveryCode: recovery}
		s.log.Info("staff login", "name", a.Name, "client", client, "how", how)
		return nil
	})
	if err != nil {
		return LoggedIn{}, err
	}
	if refused != nil {
		if isGuess(refused) {
			s.addressFailed(ctx, client, now)
		}
		return LoggedIn{}, refused
	}
	return out, nil
}

// isGuess reports whether a refusal counts against the client address:
// a wrong secret, or an attempt that was not checked because of earlier
// ones; not a step taken out of order.
func isGuess(refused error) bool {
	for _, e := range []error{ErrCodeInvalid, ErrCodeReplayed, ErrLocked, ErrTryLater, ErrSessionInvalid, ErrDisabled, ErrLoginFailed, ErrWrongPassword} {
		if errors.Is(refused, e) {
			return true
		}
	}
	return false
}

// pendingLogin finds the login in progress that token names.
func (s *Store) pendingLogin(ctx context.Context, tx *sql.Tx, token string, now time.Time) (Session, accountRow, error) {
	if !wellFormed(token, SessionPrefix) {
		return Session{}, accountRow{}, fmt.Errorf("%w (%s)", ErrSessionInvalid, refNoLogin)
	}
	sess, stage, a, err := s.sessionByHash(ctx, tx, tokenHash(token))
	if err != nil {
		return Session{}, accountRow{}, fmt.Errorf("%w (%s)", err, refNoLogin)
	}
	if stage != stageSecondFactor || !now.Before(sess.ExpiresAt) {
		return Session{}, accountRow{}, fmt.Errorf("%w (%s)", ErrSessionInvalid, refNoLogin)
	}
	return sess, a, nil
}

// addressBlocked refuses a client address that failed too often.
func (s *Store) addressBlocked(client string, now time.Time) error {
	if until, ok := s.addrs.blocked(addressKey(client), now); ok {
		s.log.Debug("staff login refused", "reason", string(refAddressBlocked), "client", client)
		return retryAt(until, now, true)
	}
	return nil
}

// addressFailed counts a failure against the client address, and audits
// the block it may start.
func (s *Store) addressFailed(ctx context.Context, client string, now time.Time) {
	key := addressKey(client)
	until, nth := s.addrs.fail(key, now)
	if nth == 0 {
		return
	}
	s.log.Warn("staff logins blocked from an address", "client", client, "network", key, "until", until, "block", nth)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return s.audit.AuditTx(ctx, tx, vouchers.Actor{Name: "system", Source: sourceOf(client)}, "staff.address.block", "address:"+key,
			fmt.Sprintf("%d failed logins within %v; blocked until %s (block %d)",
				s.addrs.cfg.maxFailures, s.addrs.cfg.window, until.UTC().Format(time.RFC3339), nth))
	})
	if err != nil {
		s.log.Error("staff: audit address block", "err", err)
	}
}

// reservePasswordTry counts a password attempt as wrong before the
// (slow) hash is checked, and sets the delay before the next one: parallel
// guesses then find the delay in place instead of all being checked. The
// right password clears the count again (rightPassword). A locked account,
// or an attempt within the delay, is refused here.
func (s *Store) reservePasswordTry(ctx context.Context, id int64, client, op string, now time.Time) error {
	var refused error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.accountBy(ctx, tx, `a.id = ?`, id)
		if err != nil {
			return err
		}
		if refused, err = s.lockedOrTooSoon(ctx, tx, &a, client, op, now); refused != nil || err != nil {
			return err
		}
		f := a.FailedPasswords + 1
		_, err = tx.ExecContext(ctx, `UPDATE staff SET failed_passwords = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`,
			f, dbTime(now.Add(s.delayAfter(f))), dbTime(now), a.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("staff: %s: %w", op, err)
	}
	if refused != nil {
		s.addressFailed(ctx, client, now)
	}
	return refused
}

// lockedOrTooSoon refuses (and audits) an attempt on a locked account or
// within the delay after a wrong one; it clears a lock that has run out.
func (s *Store) lockedOrTooSoon(ctx context.Context, tx *sql.Tx, a *accountRow, client, op string, now time.Time) (refused, err error) {
	if a.LockedUntil != nil {
		if now.Before(*a.LockedUntil) {
			s.log.Warn("staff auth refused", "step", op, "reason", string(refLocked), "name", a.Name, "client", client)
			return s.lockedError(*a, now), s.auditRefusal(ctx, tx, a, client, op, refLocked, "until "+a.LockedUntil.Format(time.RFC3339))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET locked_until = NULL, lock_reason = '' WHERE id = ?`, a.ID); err != nil {
			return nil, err
		}
		a.LockedUntil, a.LockReason = nil, ""
	}
	if next := fromDB(a.nextAttemptAt); now.Before(next) {
		s.log.Warn("staff auth refused", "step", op, "reason", string(refTooSoon), "name", a.Name, "client", client)
		return retryAt(next, now, false), s.auditRefusal(ctx, tx, a, client, op, refTooSoon, "")
	}
	return nil, nil
}

// wrongPassword records a wrong password (already counted by
// reservePasswordTry) and locks the account at the limit.
func (s *Store) wrongPassword(ctx context.Context, id int64, client, op string, now time.Time) error {
	refused := ErrLoginFailed
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.accountBy(ctx, tx, `a.id = ?`, id)
		if err != nil {
			return err
		}
		s.log.Warn("staff auth refused", "step", op, "reason", string(refWrongPassword), "name", a.Name, "client", client)
		if err := s.auditRefusal(ctx, tx, &a, client, op, refWrongPassword,
			fmt.Sprintf("%d of %d before a lock", a.FailedPasswords, s.maxPasswords)); err != nil {
			return err
		}
		if a.FailedPasswords < s.maxPasswords || a.Locked(now) {
			return nil
		}
		refused, err = s.lock(ctx, tx, a, "wrong passwords", client, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("staff: %s: %w", op, err)
	}
	s.addressFailed(ctx, client, now)
	return refused
}

// rightPassword clears the password count and delay, stores a new hash
// when the costs were raised, and returns the account.
func (s *Store) rightPassword(ctx context.Context, tx *sql.Tx, id int64, newHash, client string, now time.Time) (accountRow, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE staff SET failed_passwords = 0, next_attempt_at = 0, updated_at = ? WHERE id = ?`,
		dbTime(now), id); err != nil {
		return accountRow{}, err
	}
	a, err := s.accountBy(ctx, tx, `a.id = ?`, id)
	if err != nil || newHash == "" {
		return a, err
	}
	old, _ := parsePasswordHash(a.passwordHash)
	if _, err := tx.ExecContext(ctx, `UPDATE staff SET password_hash = ? WHERE id = ?`, newHash, id); err != nil {
		return accountRow{}, err
	}
	return a, s.audit.AuditTx(ctx, tx, staffActor(a.Name, client), "staff.password.rehash", accountRef(a.Name),
		fmt.Sprintf("argon2id %s -> %s (same password, stronger hash)", old.params, s.params))
}

// checkCode checks a TOTP code (or, for anyCode, a recovery code) against
// secret, inside tx, counting a wrong one and locking the account
// at the limit. refused is the answer for the user when the code is not
// accepted (the transaction commits it); err is a failure of the database.
// On success it returns the TOTP step used (-1 for a recovery code).
func (s *Store) checkCode(ctx context.Context, tx *sql.Tx, a accountRow, secret, code string, kind codeKind, client, op string, now time.Time) (refused error, usedRecovery bool, st int64, err error) {
	if refused, err := s.lockedOrTooSoon(ctx, tx, &a, client, op, now); refused != nil || err != nil {
		return refused, false, 0, err
	}
	why := refWrongCode
	last := a.lastStep
	if kind == pendingTOTP {
		last = -1 // a new secret: none of its codes was used yet
	}
	if c, ok := totpShape(code); ok {
		switch st = matchTOTP(secret, c, now); {
		case st > last:
			_, err := tx.ExecContext(ctx, `UPDATE staff SET totp_last_step = ?, failed_codes = 0, next_attempt_at = 0 WHERE id = ?`, st, a.ID)
			return nil, false, st, err
		case st >= 0:
			why = refReplayedCode
		}
	} else if kind == anyCode {
		used, err := useRecoveryCode(ctx, tx, a.ID, code)
		if err != nil {
			return nil, false, 0, err
		}
		if used {
			_, err := tx.ExecContext(ctx, `UPDATE staff SET failed_codes = 0, next_attempt_at = 0 WHERE id = ?`, a.ID)
			return nil, true, -1, err
		}
	}
	f := a.FailedCodes + 1
	s.log.Warn("staff auth refused", "step", op, "reason", string(why), "name", a.Name, "client", client)
	if err := s.auditRefusal(ctx, tx, &a, client, op, why, fmt.Sprintf("%d of %d before a lock", f, s.maxCodes)); err != nil {
		return nil, false, 0, err
	}
	if f >= s.maxCodes {
		refused, err := s.lock(ctx, tx, a, "wrong codes", client, now)
		return refused, false, 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE staff SET failed_codes = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`,
		f, dbTime(now.Add(s.delayAfter(f))), dbTime(now), a.ID); err != nil {
		return nil, false, 0, err
	}
	if why == refReplayedCode {
		return ErrCodeReplayed, false, 0, nil
	}
	return ErrCodeInvalid, false, 0, nil
}

// codeKind is what checkCode accepts.
type codeKind int

const (
	anyCode     codeKind = iota // the account's TOTP code or a recovery code
	totpOnly                    // the account's TOTP code
	pendingTOTP                 // a code of a new secret being set up
)

// lock locks the account for a time that doubles with each lock since its
// last successful login, ends its logins in progress, and returns the
// *LockedError to show.
func (s *Store) lock(ctx context.Context, tx *sql.Tx, a accountRow, reason, client string, now time.Time) (error, error) {
	n := a.Lockouts + 1
	until := fromDB(dbTime(now.Add(growing(s.lockout, n, s.maxLock))))
	if _, err := tx.ExecContext(ctx,
		`UPDATE staff SET locked_until = ?, lock_reason = ?, lockouts = ?, failed_passwords = 0, failed_codes = 0,
		   next_attempt_at = 0, updated_at = ?
		 WHERE id = ?`, dbTime(until), reason, n, dbTime(now), a.ID); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE account_id = ? AND stage = ?`, a.ID, stageSecondFactor); err != nil {
		return nil, err
	}
	limit := s.maxPasswords
	if reason == "wrong codes" {
		limit = s.maxCodes
	}
	s.log.Warn("staff account locked", "name", a.Name, "reason", reason, "until", until, "lockout", n, "client", client)
	err := s.audit.AuditTx(ctx, tx, vouchers.Actor{Name: "system", Source: sourceOf(client)}, "staff.lockout", accountRef(a.Name),
		fmt.Sprintf("%d %s in a row, the last from %s; locked until %s (lockout %d since the last login)",
			limit, reason, sourceOf(client), until.Format(time.RFC3339), n))
	a.LockedUntil, a.LockReason = &until, reason
	return s.lockedError(a, now), err
}

func (s *Store) lockedError(a accountRow, now time.Time) *LockedError {
	reason := a.LockReason
	if reason == "" {
		reason = "wrong attempts"
	}
	return &LockedError{Name: a.Name, Reason: reason, Until: *a.LockedUntil, now: now, loc: s.loc}
}

// delayAfter is the wait after the f-th wrong attempt in a row: doubling
// from AttemptDelay, at most Lockout.
func (s *Store) delayAfter(f int) time.Duration { return growing(s.delay, f, s.lockout) }

// auditRefusal records a failed attempt: who it claimed to be (nil: a name
// that does not exist, which is not written down as it may be a password
// typed in the wrong box), from where, at which step and why.
func (s *Store) auditRefusal(ctx context.Context, tx *sql.Tx, a *accountRow, client, op string, why refusal, detail string) error {
	by, subject := vouchers.Actor{Name: "unknown", Source: sourceOf(client)}, "staff:?"
	if a != nil {
		by, subject = staffActor(a.Name, client), accountRef(a.Name)
	}
	d := op + ": " + string(why)
	if detail != "" {
		d += " (" + detail + ")"
	}
	return s.audit.AuditTx(ctx, tx, by, "staff.auth.fail", subject, d)
}
