package staff

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"keycard/vouchers"
)

// Token is an API token of the hotel's property-management system (PMS),
// as listed: never the token itself, which is shown once by AddToken.
type Token struct {
	ID         int64
	Name       string
	Scopes     []Scope
	CreatedBy  string // the Actor.Name that made it
	CreatedAt  time.Time
	LastUsedAt *time.Time // to the minute
	RevokedAt  *time.Time
}

// Has reports whether the token carries scope (scopes do not imply one
// another).
func (t Token) Has(scope Scope) bool { return t.RevokedAt == nil && slices.Contains(t.Scopes, scope) }

func tokenRef(name string) string { return "token:" + name }

// checkTokenName: 2 to 64 characters, lowercase letters, digits, '.', '_'
// and '-', starting with a letter or digit ("opera-pms").
func checkTokenName(name string) error {
	if len(name) < 2 || len(name) > 64 {
		return invalidf("token name %q must be 2 to 64 characters", name)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case i > 0 && (r == '.' || r == '_' || r == '-'):
		default:
			return invalidf("token name %q: use lowercase letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// canonicalScopes checks scopes and returns them once each, in Scopes()
// order.
func canonicalScopes(scopes []Scope) ([]Scope, error) {
	if len(scopes) == 0 {
		return nil, invalidf("a token needs at least one scope: %s", scopeList(Scopes()))
	}
	var out []Scope
	for _, want := range Scopes() {
		if slices.Contains(scopes, want) {
			out = append(out, want)
		}
	}
	for _, sc := range scopes {
		if !slices.Contains(out, sc) {
			return nil, invalidf("unknown scope %q; use %s", sc, scopeList(Scopes()))
		}
	}
	return out, nil
}

func joinScopes(ss []Scope) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, " ")
}

func splitScopes(s string) []Scope {
	var out []Scope
	for _, f := range strings.Fields(s) {
		out = append(out, Scope(f))
	}
	return out
}

const tokenColumns = `id, name, scopes, created_by, created_at, last_used_at, revoked_at`

func scanToken(row scanner, extra ...any) (Token, error) {
	var (
		t               Token
		scopes          string
		created         int64
		lastUsed, revkd sql.NullInt64
	)
	if err := row.Scan(append([]any{&t.ID, &t.Name, &scopes, &t.CreatedBy, &created, &lastUsed, &revkd}, extra...)...); err != nil {
		return Token{}, err
	}
	t.Scopes = splitScopes(scopes)
	t.CreatedAt = fromDB(created)
	t.LastUsedAt, t.RevokedAt = fromNull(lastUsed), fromNull(revkd)
	return t, nil
}

// AddToken makes an API token called name with scopes and returns it with
// its text ("kc_…"): show that once; only its hash is kept. The name is
// unique among the live tokens and names the token in the audit log.
func (s *Store) AddToken(ctx context.Context, by vouchers.Actor, name string, scopes []Scope) (Token, string, error) {
	if err := checkActor(by); err != nil {
		return Token{}, "", err
	}
	name = strings.TrimSpace(name)
	if err := checkTokenName(name); err != nil {
		return Token{}, "", err
	}
	scopes, err := canonicalScopes(scopes)
	if err != nil {
		return Token{}, "", err
	}
	text, hash, err := newToken(s.rand, TokenPrefix)
	if err != nil {
		return Token{}, "", err
	}
	now := fromDB(dbTime(s.now()))
	t := Token{Name: name, Scopes: scopes, CreatedBy: by.Name, CreatedAt: now}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff_tokens WHERE name = ? AND revoked_at IS NULL`, name).Scan(&n); err != nil {
			return fmt.Errorf("staff: add token %s: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: %s (revoke it first, or choose another name)", ErrDuplicateToken, name)
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO staff_tokens (name, scopes, token_hash, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
			name, joinScopes(scopes), hash, by.Name, dbTime(now))
		if err != nil {
			return fmt.Errorf("staff: add token %s: %w", name, err)
		}
		if t.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("staff: add token %s: %w", name, err)
		}
		return s.audit.AuditTx(ctx, tx, by, "token.add", tokenRef(name), fmt.Sprintf("token %d, scopes %s", t.ID, joinScopes(scopes)))
	})
	if err != nil {
		return Token{}, "", err
	}
	s.log.Info("API token added", "name", name, "scopes", joinScopes(scopes), "by", by.Name)
	return t, text, nil
}

// Tokens lists the API tokens by name, the revoked ones too when all is
// set.
func (s *Store) Tokens(ctx context.Context, all bool) ([]Token, error) {
	q := `SELECT ` + tokenColumns + ` FROM staff_tokens`
	if !all {
		q += ` WHERE revoked_at IS NULL`
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("staff: list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("staff: list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("staff: list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken stops the live token called name at once.
func (s *Store) RevokeToken(ctx context.Context, by vouchers.Actor, name string) (Token, error) {
	if err := checkActor(by); err != nil {
		return Token{}, err
	}
	now := fromDB(dbTime(s.now()))
	var t Token
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM staff_tokens WHERE name = ? AND revoked_at IS NULL`,
			strings.TrimSpace(name)))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %q", ErrUnknownToken, name)
		}
		if err != nil {
			return fmt.Errorf("staff: revoke token: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff_tokens SET revoked_at = ? WHERE id = ?`, dbTime(now), t.ID); err != nil {
			return fmt.Errorf("staff: revoke token: %w", err)
		}
		t.RevokedAt = &now
		return s.audit.AuditTx(ctx, tx, by, "token.revoke", tokenRef(t.Name), fmt.Sprintf("token %d, scopes %s", t.ID, joinScopes(t.Scopes)))
	})
	if err != nil {
		return Token{}, err
	}
	s.log.Info("API token revoked", "name", t.Name, "by", by.Name)
	return t, nil
}

// TokenByBearer returns the live token whose text is bearer (what follows
// "Bearer " in the Authorization header), and records that it was used (at
// most once a minute). A malformed, unknown or revoked token is
// ErrTokenInvalid.
func (s *Store) TokenByBearer(ctx context.Context, bearer string) (Token, error) {
	if !wellFormed(bearer, TokenPrefix) {
		return Token{}, ErrTokenInvalid
	}
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM staff_tokens WHERE token_hash = ?`, tokenHash(bearer)))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrTokenInvalid
	}
	if err != nil {
		return Token{}, fmt.Errorf("staff: read token: %w", err)
	}
	if t.RevokedAt != nil {
		return Token{}, fmt.Errorf("%w (token %s was revoked)", ErrTokenInvalid, t.Name)
	}
	now := fromDB(dbTime(s.now()))
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= time.Minute {
		if _, err := s.db.ExecContext(ctx, `UPDATE staff_tokens SET last_used_at = ? WHERE id = ?`, dbTime(now), t.ID); err != nil {
			return Token{}, fmt.Errorf("staff: record token use: %w", err)
		}
		t.LastUsedAt = &now
	}
	return t, nil
}
