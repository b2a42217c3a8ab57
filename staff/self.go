package staff

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// What a logged-in member of staff changes for themselves. Each needs the
// session and the current TOTP code (a recovery code where the phone may be
// the thing lost), so that someone at a desk left logged in cannot take the
// account over; wrong codes count towards the lock as at login.

// fullSession finds the live full session token names, inside tx.
func (s *Store) fullSession(ctx context.Context, q queryer, token string, now time.Time) (Session, accountRow, error) {
	if !wellFormed(token, SessionPrefix) {
		return Session{}, accountRow{}, ErrSessionInvalid
	}
	sess, stage, a, err := s.sessionByHash(ctx, q, tokenHash(token))
	if err != nil {
		return Session{}, accountRow{}, err
	}
	if reason := sessionDead(sess, stage, a, now); reason != "" {
		return Session{}, accountRow{}, fmt.Errorf("%w (%s)", ErrSessionInvalid, reason)
	}
	return sess, a, nil
}

// sessionDead says why a session may not be used at now, or "".
func sessionDead(sess Session, stage string, a accountRow, now time.Time) string {
	switch {
	case stage != stageFull:
		return "the login is not finished"
	case !now.Before(sess.ExpiresAt):
		return "lifetime over"
	case !now.Before(sess.IdleUntil):
		return "idle too long"
	case a.DisabledAt != nil:
		return "account disabled"
	case !a.TOTPEnrolled:
		return "TOTP was reset"
	}
	return ""
}

// ChangePassword changes the session's holder's password. It needs the
// current password and a current TOTP code (or a recovery code); the new
// one must pass CheckPassword. Every session of the account ends, this one
// included, and the returned LoggedIn is a fresh session for the caller.
func (s *Store) ChangePassword(ctx context.Context, sessionToken, current, code, newPassword, client string) (LoggedIn, error) {
	now := s.now()
	if err := s.addressBlocked(client, now); err != nil {
		return LoggedIn{}, err
	}
	_, a, err := s.fullSession(ctx, s.db, sessionToken, now)
	if err != nil {
		return LoggedIn{}, err
	}
	if err := CheckPassword(a.Name, newPassword); err != nil {
		return LoggedIn{}, err
	}
	if newPassword == current {
		return LoggedIn{}, invalidf("the new password is the current one: choose another")
	}
	const op = "change password"
	if err := s.reservePasswordTry(ctx, a.ID, client, op, now); err != nil {
		return LoggedIn{}, err
	}
	ok, _, err := s.verifyPassword(ctx, a.passwordHash, current)
	if err != nil {
		return LoggedIn{}, fmt.Errorf("%w (account %s)", err, a.Name)
	}
	if !ok {
		if err := s.wrongPassword(ctx, a.ID, client, op, now); err != ErrLoginFailed {
			return LoggedIn{}, err
		}
		return LoggedIn{}, ErrWrongPassword
	}
	hash, err := s.hashPassword(ctx, newPassword)
	if err != nil {
		return LoggedIn{}, err
	}
	var out LoggedIn
	var refused error
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, a, err = s.fullSession(ctx, tx, sessionToken, now); err != nil {
			return err
		}
		if a, err = s.rightPassword(ctx, tx, a.ID, "", client, now); err != nil {
			return err
		}
		secret, err := s.openTOTP(a)
		if err != nil {
			return err
		}
		if refused, _, _, err = s.checkCode(ctx, tx, a, secret, code, anyCode, client, op, now); refused != nil || err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE staff SET password_hash = ?, password_changed_at = ?, must_change_password = 0, updated_at = ? WHERE id = ?`,
			hash, dbTime(now), dbTime(now), a.ID); err != nil {
			return err
		}
		ended, err := endAllTx(ctx, tx, a.ID)
		if err != nil {
			return err
		}
		token, sess, err := s.insertSession(ctx, tx, a.ID, stageFull, client, now)
		if err != nil {
			return err
		}
		if err := s.audit.AuditTx(ctx, tx, staffActor(a.Name, client), "staff.password.change", accountRef(a.Name),
			fmt.Sprintf("by the holder, with the current password and a code; %s ended, new session %d", sessionsText(ended), sess.ID)); err != nil {
			return err
		}
		acct, err := s.accountBy(ctx, tx, `a.id = ?`, a.ID)
		out = LoggedIn{Token: token, Session: sess, Account: acct.Account}
		return err
	})
	if err != nil {
		return LoggedIn{}, err
	}
	if refused != nil {
		s.addressFailed(ctx, client, now)
		return LoggedIn{}, refused
	}
	s.log.Info("staff password changed", "name", a.Name, "client", client)
	return out, nil
}

// BeginTOTPChange starts replacing the holder's authenticator app (a new
// phone): with the current TOTP code or a recovery code it returns a new
// secret to scan. The old one keeps working until ConfirmTOTPChange.
func (s *Store) BeginTOTPChange(ctx context.Context, sessionToken, code, client string) (Enrolment, error) {
	now := s.now()
	if err := s.addressBlocked(client, now); err != nil {
		return Enrolment{}, err
	}
	var e Enrolment
	var refused error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, a, err := s.fullSession(ctx, tx, sessionToken, now)
		if err != nil {
			return err
		}
		secret, err := s.openTOTP(a)
		if err != nil {
			return err
		}
		if refused, _, _, err = s.checkCode(ctx, tx, a, secret, code, anyCode, client, "change TOTP", now); refused != nil || err != nil {
			return err
		}
		a.pendingSealed = "" // always a new secret
		e, err = s.newEnrolment(ctx, tx, a, now)
		return err
	})
	if err != nil {
		return Enrolment{}, err
	}
	if refused != nil {
		s.addressFailed(ctx, client, now)
	}
	return e, refused
}

// ConfirmTOTPChange makes the secret from BeginTOTPChange the account's,
// once a code from the new app matches it. The old secret and recovery
// codes stop working; the new recovery codes are returned (show them
// once); the account's other sessions end.
func (s *Store) ConfirmTOTPChange(ctx context.Context, sessionToken, code, client string) ([]string, error) {
	now := s.now()
	if err := s.addressBlocked(client, now); err != nil {
		return nil, err
	}
	var codes []string
	var refused error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		sess, a, err := s.fullSession(ctx, tx, sessionToken, now)
		if err != nil {
			return err
		}
		secret, err := s.openPending(a, now)
		if err != nil {
			return err
		}
		if secret == "" {
			refused = invalidf("no new authenticator is being set up, or its QR code expired: start again")
			return nil
		}
		var st int64
		if refused, _, st, err = s.checkCode(ctx, tx, a, secret, code, pendingTOTP, client, "change TOTP", now); refused != nil || err != nil {
			return err
		}
		if codes, err = s.activatePending(ctx, tx, a, secret, st, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE account_id = ? AND id <> ?`, a.ID, sess.ID)
		if err != nil {
			return err
		}
		ended, _ := res.RowsAffected()
		return s.audit.AuditTx(ctx, tx, staffActor(a.Name, client), "staff.2fa.change", accountRef(a.Name),
			fmt.Sprintf("TOTP replaced by the holder (current code checked); %d new recovery codes; %s ended", len(codes), sessionsText(ended)))
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		if isGuess(refused) {
			s.addressFailed(ctx, client, now)
		}
		return nil, refused
	}
	return codes, nil
}

// NewRecoveryCodes replaces the holder's recovery codes (with a current
// TOTP code) and returns the new ones: show them once.
func (s *Store) NewRecoveryCodes(ctx context.Context, sessionToken, code, client string) ([]string, error) {
	now := s.now()
	if err := s.addressBlocked(client, now); err != nil {
		return nil, err
	}
	var codes []string
	var refused error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, a, err := s.fullSession(ctx, tx, sessionToken, now)
		if err != nil {
			return err
		}
		secret, err := s.openTOTP(a)
		if err != nil {
			return err
		}
		if refused, _, _, err = s.checkCode(ctx, tx, a, secret, code, totpOnly, client, "new recovery codes", now); refused != nil || err != nil {
			return err
		}
		if codes, err = s.newRecoveryCodes(ctx, tx, a.ID, now); err != nil {
			return err
		}
		return s.audit.AuditTx(ctx, tx, staffActor(a.Name, client), "staff.recovery.renew", accountRef(a.Name),
			fmt.Sprintf("%d new recovery codes; the old ones no longer work", len(codes)))
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		s.addressFailed(ctx, client, now)
		return nil, refused
	}
	return codes, nil
}
