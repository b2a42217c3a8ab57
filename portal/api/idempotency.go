package api

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

const maxIdempotencyKey = 255

// idempotent runs a POST that carries an Idempotency-Key: the first
// request with the key claims it and its answer is kept; a retry with the
// same key and request gets that answer (replayed), with a different
// request a 422 problem, while the first is still running a 409.
//
// Only successful answers are kept: a refused request changed nothing, so
// its retry runs again. When the process dies between the change and
// keeping its answer, the key is free again after abandonedAfter; the
// reservation id's uniqueness still stops a second stay.
func (h *handler) idempotent(c *call, key string) (*reply, bool, error) {
	if len(key) > maxIdempotencyKey || !printableASCII(key) {
		return nil, false, fail(kindBadRequest, "Idempotency-Key must be 1 to %d printable ASCII characters", maxIdempotencyKey)
	}
	ctx := c.r.Context()
	sum := sha256.Sum256([]byte(c.r.Method + "\x00" + c.r.URL.Path + "\x00" + string(c.body)))
	hash := hex.EncodeToString(sum[:])
	stored, err := h.claim(ctx, c.token.Name, key, hash, h.now())
	if err != nil {
		return nil, false, err
	}
	if stored != nil {
		if c.route.replay != nil {
			rep, err := c.route.replay(h, c, stored)
			return rep, true, err
		}
		return stored, true, nil
	}
	rep, err := c.route.handle(h, c)
	// A fresh context: the change is made, its answer must be kept even
	// when the caller has gone.
	keepCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err != nil {
		if _, derr := h.db.ExecContext(keepCtx, `DELETE FROM api_idempotency WHERE token_name = ? AND idem_key = ?`, c.token.Name, key); derr != nil {
			h.log.Error("api: release an idempotency key", "token", c.token.Name, "err", derr)
		}
		return nil, false, err
	}
	body := rep.body
	if rep.stored != nil {
		body = rep.stored
	}
	if _, kerr := h.db.ExecContext(keepCtx,
		`UPDATE api_idempotency SET status = ?, location = ?, body = ? WHERE token_name = ? AND idem_key = ?`,
		rep.status, rep.location, string(body), c.token.Name, key); kerr != nil {
		h.log.Error("api: keep an idempotent answer", "token", c.token.Name, "err", kerr)
	}
	return rep, false, nil
}

// claim takes the key for a new request (nil, nil) or returns the answer
// kept for it. It also purges keys older than IdempotencyTTL.
func (h *handler) claim(ctx context.Context, token, key, hash string, now time.Time) (*reply, error) {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("api: idempotency: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM api_idempotency WHERE created_at < ?`, dbTime(now.Add(-IdempotencyTTL))); err != nil {
		return nil, fmt.Errorf("api: idempotency: purge: %w", err)
	}
	var (
		have, location, body string
		status               int
		created              int64
	)
	err = tx.QueryRowContext(ctx,
		`SELECT request_hash, status, location, body, created_at FROM api_idempotency WHERE token_name = ? AND idem_key = ?`,
		token, key).Scan(&have, &status, &location, &body, &created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO api_idempotency (token_name, idem_key, request_hash, created_at) VALUES (?, ?, ?, ?)`,
			token, key, hash, dbTime(now)); err != nil {
			// Another node inserted it first (PostgreSQL; SQLite's
			// immediate transactions serialise this).
			return nil, fail(kindInProgress, "a request with this Idempotency-Key is being served; retry shortly")
		}
	case err != nil:
		return nil, fmt.Errorf("api: idempotency: %w", err)
	case have != hash:
		return nil, fail(kindKeyReused, "this Idempotency-Key was used for a different request (method, path or body); use a new key for a new request")
	case status != 0:
		return &reply{status: status, location: location, body: []byte(body)}, nil
	case now.Sub(fromDB(created)) < abandonedAfter:
		return nil, fail(kindInProgress, "a request with this Idempotency-Key is being served; retry shortly")
	default: // abandoned by a process that died: take it over
		if _, err := tx.ExecContext(ctx, `UPDATE api_idempotency SET created_at = ? WHERE token_name = ? AND idem_key = ?`,
			dbTime(now), token, key); err != nil {
			return nil, fmt.Errorf("api: idempotency: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("api: idempotency: %w", err)
	}
	return nil, nil
}

func printableASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Times are stored as UTC unix nanoseconds, as in the other packages.
func dbTime(t time.Time) int64 { return t.UTC().UnixNano() }

func fromDB(n int64) time.Time { return time.Unix(0, n).UTC() }
