package staff

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"keycard/vouchers"
)

// Session is a member of staff's login to the front-desk web app, as its
// cookie names it.
type Session struct {
	ID         int64
	AccountID  int64
	Client     string // the address it was created from
	CreatedAt  time.Time
	LastSeenAt time.Time // updated at most once a minute
	ExpiresAt  time.Time // the absolute end: CreatedAt + SessionLifetime
	IdleUntil  time.Time // LastSeenAt + IdleTimeout, never after ExpiresAt
}

// Session tokens and API tokens are 256 random bits from crypto/rand, in
// unpadded base64url after a prefix that says what they are ("kcs_" for a
// session cookie, "kc_" for an API token) so that a leaked one is easy to
// grep for. The database keeps only their SHA-256: with 256 bits no one can
// search for a token from its hash, so a fast hash is as good as a slow one
// here and costs nothing on every request; a stolen database backup holds
// no cookie or token anyone can send. A token is found by its hash through
// the unique index: how long the lookup takes depends on the hash, which the
// sender cannot steer, never on how much of a guess was right.
const (
	SessionPrefix = "kcs_"
	TokenPrefix   = "kc_"
	tokenBytes    = 32
)

var tokenTextLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

func newToken(r io.Reader, prefix string) (token, hash string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", "", fmt.Errorf("staff: token randomness: %w", err)
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, tokenHash(token), nil
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormed reports whether token has prefix and 43 base64url characters.
func wellFormed(token, prefix string) bool {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok || len(rest) != tokenTextLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

const (
	stageSecondFactor = "second_factor"
	stageFull         = "full"
)

const sessionColumns = `s.id, s.account_id, s.stage, s.client, s.created_at, s.last_seen_at, s.expires_at`

func (s *Store) scanSession(row scanner) (Session, string, accountRow, error) {
	var (
		sess                     Session
		stage                    string
		created, seen, expiresAt int64
	)
	a, err := scanAccount(row, &sess.ID, &sess.AccountID, &stage, &sess.Client, &created, &seen, &expiresAt)
	if err != nil {
		return Session{}, "", accountRow{}, err
	}
	sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt = fromDB(created), fromDB(seen), fromDB(expiresAt)
	sess.IdleUntil = sess.LastSeenAt.Add(s.idle)
	if sess.IdleUntil.After(sess.ExpiresAt) {
		sess.IdleUntil = sess.ExpiresAt
	}
	return sess, stage, a, nil
}

// sessionByHash finds a session row and its account.
func (s *Store) sessionByHash(ctx context.Context, q queryer, hash string) (Session, string, accountRow, error) {
	sess, stage, a, err := s.scanSession(q.QueryRowContext(ctx,
		`SELECT `+accountColumns+`, `+sessionColumns+` FROM staff_sessions s JOIN staff a ON a.id = s.account_id WHERE s.token_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, "", accountRow{}, ErrSessionInvalid
	}
	if err != nil {
		return Session{}, "", accountRow{}, fmt.Errorf("staff: read session: %w", err)
	}
	return sess, stage, a, nil
}

// insertSession stores a new session row and returns its token.
func (s *Store) insertSession(ctx context.Context, tx *sql.Tx, accountID int64, stage, client string, now time.Time) (string, Session, error) {
	if err := s.purgeSessions(ctx, tx, now); err != nil {
		return "", Session{}, err
	}
	token, hash, err := newToken(s.rand, SessionPrefix)
	if err != nil {
		return "", Session{}, err
	}
	life := s.lifetime
	if stage == stageSecondFactor {
		life = s.pending
	}
	now = fromDB(dbTime(now))
	sess := Session{AccountID: accountID, Client: client, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(life)}
	sess.IdleUntil = now.Add(min(s.idle, life))
	res, err := tx.ExecContext(ctx,
		`INSERT INTO staff_sessions (account_id, token_hash, stage, client, created_at, last_seen_at, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`, accountID, hash, stage, client, dbTime(now), dbTime(now), dbTime(sess.ExpiresAt))
	if err != nil {
		return "", Session{}, fmt.Errorf("staff: create session: %w", err)
	}
	if sess.ID, err = res.LastInsertId(); err != nil {
		return "", Session{}, fmt.Errorf("staff: create session: %w", err)
	}
	return token, sess, nil
}

// purgeSessions deletes the rows past their lifetime or idle timeout.
func (s *Store) purgeSessions(ctx context.Context, tx *sql.Tx, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE expires_at <= ? OR (stage = ? AND last_seen_at <= ?)`,
		dbTime(now), stageFull, dbTime(now.Add(-s.idle))); err != nil {
		return fmt.Errorf("staff: purge sessions: %w", err)
	}
	return nil
}

// CreateSession starts a full session for an account that has just passed
// both factors, and returns its token (for the cookie, shown to no one
// else). The login steps (SecondFactor, ConfirmEnrolment) call it
// themselves and return its result; the web app needs it only where it
// checked both factors another way. A disabled account, or one without
// TOTP, gets no session.
func (s *Store) CreateSession(ctx context.Context, accountID int64, client string) (string, Session, error) {
	now := s.now()
	var token string
	var sess Session
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.accountBy(ctx, tx, `a.id = ?`, accountID)
		if err != nil {
			return err
		}
		switch {
		case a.DisabledAt != nil:
			return ErrDisabled
		case !a.TOTPEnrolled:
			return ErrEnrolmentRequired
		}
		token, sess, err = s.insertSession(ctx, tx, a.ID, stageFull, client, now)
		return err
	})
	return token, sess, err
}

// SessionByToken returns the live session the cookie's token names and its
// account as of now, and records that it was used (at most once a minute).
// Every way a session can be dead gives ErrSessionInvalid, wrapped with the
// reason: unknown token, logged out or ended by a password change, a login
// not yet through its second step, idle past IdleTimeout, older than
// SessionLifetime, a disabled account, TOTP reset. The account is read
// afresh, so a role change applies at once.
func (s *Store) SessionByToken(ctx context.Context, token string, now time.Time) (Session, Account, error) {
	if !wellFormed(token, SessionPrefix) {
		return Session{}, Account{}, ErrSessionInvalid
	}
	hash := tokenHash(token)
	sess, stage, a, err := s.sessionByHash(ctx, s.db, hash)
	if err != nil {
		return Session{}, Account{}, err
	}
	if stage != stageFull {
		return Session{}, Account{}, fmt.Errorf("%w (the login is not finished)", ErrSessionInvalid)
	}
	reason := sessionDead(sess, stage, a, now)
	if reason != "" {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM staff_sessions WHERE id = ?`, sess.ID); err != nil {
			return Session{}, Account{}, fmt.Errorf("staff: end session: %w", err)
		}
		s.log.Info("staff session ended", "name", a.Name, "reason", reason)
		return Session{}, Account{}, fmt.Errorf("%w (%s)", ErrSessionInvalid, reason)
	}
	if now.Sub(sess.LastSeenAt) >= s.touchEvery {
		seen := fromDB(dbTime(now))
		if _, err := s.db.ExecContext(ctx, `UPDATE staff_sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`,
			dbTime(seen), sess.ID, dbTime(seen)); err != nil {
			return Session{}, Account{}, fmt.Errorf("staff: touch session: %w", err)
		}
		sess.LastSeenAt = seen
		sess.IdleUntil = seen.Add(s.idle)
		if sess.IdleUntil.After(sess.ExpiresAt) {
			sess.IdleUntil = sess.ExpiresAt
		}
	}
	return sess, a.Account, nil
}

// EndSession logs the session out (ErrSessionInvalid when it had already
// ended). client is where the logout came from, for the audit log.
func (s *Store) EndSession(ctx context.Context, token, client string) error {
	if !wellFormed(token, SessionPrefix) {
		return ErrSessionInvalid
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		sess, stage, a, err := s.sessionByHash(ctx, tx, tokenHash(token))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE id = ?`, sess.ID); err != nil {
			return fmt.Errorf("staff: end session: %w", err)
		}
		if stage != stageFull {
			return nil // a login abandoned half-way
		}
		return s.audit.AuditTx(ctx, tx, staffActor(a.Name, client), "staff.logout", accountRef(a.Name), fmt.Sprintf("session %d", sess.ID))
	})
}

// EndAllSessions ends every session of the account (log out everywhere)
// and returns how many there were.
func (s *Store) EndAllSessions(ctx context.Context, by vouchers.Actor, accountID int64) (int64, error) {
	if err := checkActor(by); err != nil {
		return 0, err
	}
	var ended int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.accountBy(ctx, tx, `a.id = ?`, accountID)
		if err != nil {
			return err
		}
		if ended, err = endAllTx(ctx, tx, a.ID); err != nil {
			return err
		}
		return s.audit.AuditTx(ctx, tx, by, "staff.sessions.end", accountRef(a.Name), sessionsText(ended)+" ended")
	})
	return ended, err
}

func endAllTx(ctx context.Context, tx *sql.Tx, accountID int64) (int64, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE account_id = ?`, accountID)
	if err != nil {
		return 0, fmt.Errorf("staff: end sessions: %w", err)
	}
	return res.RowsAffected()
}

// Sessions lists the account's live sessions at now, newest first.
func (s *Store) Sessions(ctx context.Context, accountID int64) ([]Session, error) {
	now := s.now()
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+accountColumns+`, `+sessionColumns+` FROM staff_sessions s JOIN staff a ON a.id = s.account_id
		 WHERE s.account_id = ? AND s.stage = ? AND s.expires_at > ? AND s.last_seen_at > ?
		 ORDER BY s.created_at DESC, s.id DESC`, accountID, stageFull, dbTime(now), dbTime(now.Add(-s.idle)))
	if err != nil {
		return nil, fmt.Errorf("staff: list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		sess, _, _, err := s.scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("staff: list sessions: %w", err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("staff: list sessions: %w", err)
	}
	return out, nil
}
