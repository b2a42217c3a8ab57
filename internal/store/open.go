package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// fileURI makes the SQLite URI for path. The path is escaped: SQLite reads
// "file:" names as URIs, so a folder named "room#2" or "a?b" would otherwise
// put the database somewhere else.
func fileURI(path string, q url.Values) string {
	u := url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}
	return u.String()
}

// maxConns bounds the pool: SQLite has one writer at a time anyway, and
// readers in WAL mode do not block it.
const maxConns = 16

// Open opens (creating if needed) the SQLite database at path with WAL
// journaling, foreign keys on and a busy timeout, and checks that it answers.
// Use ":memory:" only in tests; each connection would see its own database,
// so Open limits such a handle to one connection.
func Open(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" {
		return nil, fmt.Errorf("store: no database path")
	}
	memory := path == ":memory:"
	if !memory {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store: create database folder: %w", err)
		}
	}
	q := url.Values{}
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "5000")
	q.Set("_txlock", "immediate")
	if !memory {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL")
	}
	dsn := fileURI(path, q)
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if memory {
		db.SetMaxOpenConns(1)
	} else {
		// Every authentication reads the database from one of the RADIUS
		// workers. database/sql keeps only two idle connections by default,
		// so under load it would open and close SQLite connections (and
		// re-prepare statements) all the time; keep enough for the workers.
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
	}
	if err := ping(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !memory {
		// The database holds voucher hashes and encrypted secrets: keep it
		// readable by the service user only.
		_ = os.Chmod(path, 0o600)
	}
	return db, nil
}

// ping checks that db answers. Turning a brand-new database to WAL takes
// an exclusive lock that SQLite does not wait for with the busy timeout,
// so two processes opening a new database at once (serve and a CLI
// command) can see "database is locked": that is retried for a while.
func ping(ctx context.Context, db *sql.DB) error {
	var err error
	for range 100 {
		if err = db.PingContext(ctx); err == nil || !strings.Contains(err.Error(), "database is locked") {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return err
}
