package vouchers

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	ID       int64
	At       time.Time
	Actor    string // Actor.Name
	Source   string // Actor.Source
	Action   string // "stay.create", "device.revoke", "nas.add", ...
	Subject  string // "stay:12", "device:40", "nas:ap-lobby"
	Detail   string // never a secret
	PrevHash string // the previous row's Hash; 64 zeros for the first row
	Hash     string // hex SHA-256 over the fields above, see hashAudit
}

// AuditError is VerifyAudit's finding: the first row where the chain
// breaks and what is wrong with it.
type AuditError struct {
	ID      int64
	Problem string
}

func (e *AuditError) Error() string { return "vouchers: audit log: " + e.Problem }

// genesisHash is the PrevHash of the first row.
var genesisHash = strings.Repeat("0", 64)

const maxAuditField = 4096

// hashAudit is the SHA-256 of a canonical encoding of e: a version label,
// then each field (id and time in decimal) as an 8-byte big-endian length
// and its bytes, ending with the previous row's hash.
func hashAudit(e AuditEntry) string {
	h := sha256.New()
	h.Write([]byte("keycard audit v1"))
	for _, f := range []string{
		strconv.FormatInt(e.ID, 10),
		strconv.FormatInt(e.At.UnixNano(), 10),
		e.Actor, e.Source, e.Action, e.Subject, e.Detail, e.PrevHash,
	} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Audit appends one entry in its own transaction; other packages use it
// for their changes (radiusd: "nas.add", "nas.remove"; portal: "staff.*").
// detail must not contain secrets.
func (s *Store) Audit(ctx context.Context, by Actor, action, subject, detail string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return s.AuditTx(ctx, tx, by, action, subject, detail)
	})
}

// AuditTx appends one entry inside the caller's transaction, so the change
// and its record commit or roll back together.
func (s *Store) AuditTx(ctx context.Context, tx *sql.Tx, by Actor, action, subject, detail string) error {
	if err := checkActor(by); err != nil {
		return err
	}
	if action == "" {
		return invalidf("audit action is required")
	}
	return s.appendAudit(ctx, tx, by, s.now(), action, subject, detail)
}

func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, by Actor, now time.Time, action, subject, detail string) error {
	e := AuditEntry{
		At:      time.Unix(0, dbTime(now)).UTC(),
		Actor:   clip(by.Name),
		Source:  clip(by.Source),
		Action:  clip(action),
		Subject: clip(subject),
		Detail:  clip(detail),
	}
	// Reading and then updating the single head row serialises writers: the
	// transaction is IMMEDIATE on SQLite (store.Open); a PostgreSQL backend
	// needs SELECT ... FOR UPDATE here.
	if err := tx.QueryRowContext(ctx, `SELECT last_id, hash FROM audit_head WHERE id = 1`).
		Scan(&e.ID, &e.PrevHash); err != nil {
		return fmt.Errorf("vouchers: audit: read head: %w", err)
	}
	e.ID++
	e.Hash = hashAudit(e)
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO audit_log (id, at, actor, source, action, subject, detail, prev_hash, hash)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, dbTime(e.At), e.Actor, e.Source, e.Action, e.Subject, e.Detail, e.PrevHash, e.Hash); err != nil {
		return fmt.Errorf("vouchers: audit: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_head SET last_id = ?, hash = ? WHERE id = 1`, e.ID, e.Hash); err != nil {
		return fmt.Errorf("vouchers: audit: update head: %w", err)
	}
	return nil
}

// clip bounds a field so one entry cannot bloat the log.
func clip(s string) string {
	if len(s) > maxAuditField {
		return s[:maxAuditField] + "…"
	}
	return s
}

const auditColumns = `id, at, actor, source, action, subject, detail, prev_hash, hash`

func scanAudit(rows *sql.Rows) (AuditEntry, error) {
	var e AuditEntry
	var at int64
	err := rows.Scan(&e.ID, &at, &e.Actor, &e.Source, &e.Action, &e.Subject, &e.Detail, &e.PrevHash, &e.Hash)
	e.At = fromDB(at)
	return e, err
}

// AuditLog returns the newest limit entries, newest first (limit <= 0:
// all of them).
func (s *Store) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	q := `SELECT ` + auditColumns + ` FROM audit_log ORDER BY id DESC`
	var args []any
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("vouchers: audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("vouchers: audit log: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vouchers: audit log: %w", err)
	}
	return out, nil
}

// AuditHead returns the number of audit entries and the last entry's hash
// as the database records them. Copy it off the machine (logs, backups) to
// anchor the chain against someone who can rewrite the whole database.
func (s *Store) AuditHead(ctx context.Context) (count int64, hash string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT last_id, hash FROM audit_head WHERE id = 1`).Scan(&count, &hash)
	if err != nil {
		return 0, "", fmt.Errorf("vouchers: audit head: %w", err)
	}
	return count, hash, nil
}

// VerifyAudit walks the whole audit log and checks every row's hash, the
// links between rows, the ids (1, 2, 3 ... without gaps) and the head. It
// returns an *AuditError for the first problem: an edited row ("row 7 was
// changed"), a deleted or reordered row ("row 8 is missing or was
// reordered") or deleted rows at the end. Then it checks the log against
// the stays and devices (see verifyAuditCoversDomain), which finds rows
// deleted from the end together with a rewound head, as long as the
// changes they recorded are still in the tables. Other errors are database
// failures.
func (s *Store) VerifyAudit(ctx context.Context) error {
	var headID int64
	var headHash string
	err := s.db.QueryRowContext(ctx, `SELECT last_id, hash FROM audit_head WHERE id = 1`).Scan(&headID, &headHash)
	if errors.Is(err, sql.ErrNoRows) {
		return &AuditError{Problem: "the audit head is missing"}
	}
	if err != nil {
		return fmt.Errorf("vouchers: verify audit: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log ORDER BY id`)
	if err != nil {
		return fmt.Errorf("vouchers: verify audit: %w", err)
	}
	defer rows.Close()
	wantID, prev := int64(1), genesisHash
	logged := make(map[auditKey]bool)
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return fmt.Errorf("vouchers: verify audit: %w", err)
		}
		if domainActions[e.Action] {
			logged[auditKey{e.Action, e.Subject}] = true
		}
		switch {
		case e.ID != wantID:
			return &AuditError{ID: wantID, Problem: fmt.Sprintf("row %d is missing or was reordered", wantID)}
		case hashAudit(e) != e.Hash:
			return &AuditError{ID: e.ID, Problem: fmt.Sprintf("row %d was changed", e.ID)}
		case e.PrevHash != prev:
			return &AuditError{ID: e.ID, Problem: fmt.Sprintf(
				"row %d does not follow row %d: row %d was changed or rows are missing or were reordered", e.ID, e.ID-1, e.ID-1)}
		}
		wantID, prev = e.ID+1, e.Hash
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("vouchers: verify audit: %w", err)
	}
	last := wantID - 1
	switch {
	case last+1 == headID:
		return &AuditError{ID: headID, Problem: fmt.Sprintf(
			"row %d is missing (the log ends at row %d, its head says %d)", headID, last, headID)}
	case last < headID:
		return &AuditError{ID: last + 1, Problem: fmt.Sprintf(
			"rows %d to %d are missing (the log ends at row %d, its head says %d)", last+1, headID, last, headID)}
	case last > headID:
		return &AuditError{ID: headID + 1, Problem: fmt.Sprintf(
			"rows %d to %d were added outside Keycard (its head says %d)", headID+1, last, headID)}
	case prev != headHash:
		return &AuditError{ID: last, Problem: fmt.Sprintf("row %d was changed (it does not match the audit head)", last)}
	}
	rows.Close()
	return s.verifyAuditCoversDomain(ctx, logged)
}

// auditKey is an entry's action and subject, e.g. {"device.enrol", "device:2"}.
type auditKey struct{ action, subject string }

// domainActions are the entries every stay and device must have.
var domainActions = map[string]bool{"stay.create": true, "stay.end": true, "device.enrol": true, "device.revoke": true}

// verifyAuditCoversDomain checks the log against the tables: every stay has
// its stay.create entry and, once ended by staff, its stay.end entry; every
// device its device.enrol entry and, once revoked, its device.revoke entry.
// The chain alone cannot tell rows deleted from the tail together with a
// rewound audit_head; the changes those rows recorded are still in the
// tables. The finding names the first stay or device, by id, whose entry is
// missing; AuditError.ID is then 0, as there is no row to point at.
func (s *Store) verifyAuditCoversDomain(ctx context.Context, logged map[auditKey]bool) error {
	type check struct {
		query  string
		action string
		what   string
		ref    func(int64) string
	}
	for _, c := range []check{
		{`SELECT id FROM stays ORDER BY id`, "stay.create", "stay", stayRef},
		{`SELECT id FROM stays WHERE ended_at IS NOT NULL ORDER BY id`, "stay.end", "ended stay", stayRef},
		{`SELECT id FROM devices WHERE serial IS NOT NULL ORDER BY id`, "device.enrol", "device", deviceRef},
		{`SELECT id FROM devices WHERE serial IS NOT NULL AND revoked_at IS NOT NULL ORDER BY id`, "device.revoke", "revoked device", deviceRef},
	} {
		missing, err := s.firstUnlogged(ctx, c.query, c.action, c.ref, logged)
		if err != nil {
			return err
		}
		if missing != 0 {
			return &AuditError{Problem: fmt.Sprintf(
				"%s %d has no %s entry in the audit log (rows were deleted, or the tables were changed outside Keycard)",
				c.what, missing, c.action)}
		}
	}
	return nil
}

// firstUnlogged returns the first id from query whose {action, ref(id)} is
// not in logged, or 0.
func (s *Store) firstUnlogged(ctx context.Context, query, action string, ref func(int64) string, logged map[auditKey]bool) (int64, error) {
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return 0, fmt.Errorf("vouchers: verify audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, fmt.Errorf("vouchers: verify audit: %w", err)
		}
		if !logged[auditKey{action, ref(id)}] {
			return id, nil
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("vouchers: verify audit: %w", err)
	}
	return 0, nil
}
