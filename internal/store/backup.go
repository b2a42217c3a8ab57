package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// Backup writes a consistent copy of the live database to dest while the
// server keeps running (SQLite's VACUUM INTO takes a read transaction, so
// writers are not blocked for long and the copy is one point in time).
// The copy is a plain SQLite file: restore by stopping Keycard and copying it
// back over the database path. dest must not exist yet.
func Backup(ctx context.Context, db *sql.DB, dest string) error {
	if dest == "" {
		return errors.New("store: backup: no destination file")
	}
	// Create the file first, empty and readable by the owner only: the copy
	// holds voucher hashes and sealed secrets, and SQLite gives the files it
	// creates next to it (the journal) the same mode. VACUUM INTO accepts an
	// existing empty file.
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("store: backup: %s already exists; choose a new file name", dest)
	}
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	f.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dest); err != nil {
		os.Remove(dest)
		return fmt.Errorf("store: backup to %s: %w", dest, err)
	}
	// Prove the copy opens and is whole before reporting success.
	check, err := sql.Open("sqlite3", fileURI(dest, url.Values{"mode": {"ro"}}))
	if err != nil {
		return fmt.Errorf("store: backup: reopen copy: %w", err)
	}
	defer check.Close()
	var result string
	if err := check.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil {
		return fmt.Errorf("store: backup: check copy: %w", err)
	}
	if result != "ok" {
		return fmt.Errorf("store: backup: copy failed its integrity check: %s", result)
	}
	return nil
}

// IntegrityCheck runs SQLite's integrity check and the foreign key check.
func IntegrityCheck(ctx context.Context, db *sql.DB) error {
	var result string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil {
		return fmt.Errorf("store: integrity check: %w", err)
	}
	if result != "ok" {
		return fmt.Errorf("store: integrity check failed: %s", result)
	}
	rows, err := db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("store: foreign key check: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		return errors.New("store: foreign key check failed: rows point at missing parents")
	}
	return rows.Err()
}
