package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// ErrBehind is returned by Check when a package's schema is older than the
// migrations compiled into this binary: run "keycard db migrate".
var ErrBehind = errors.New("store: database schema is behind, run \"keycard db migrate\"")

// ErrAhead is returned by Migrate and Check when the database was migrated by
// a newer Keycard than this binary.
var ErrAhead = errors.New("store: database schema is newer than this binary")

// A Migration is one numbered schema step of one owner.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations reads the files NNNN_name.sql at the top of fsys, in order.
func Migrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %q: name must be NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("store: read migration %q: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := range ms {
		if ms[i].Version != i+1 {
			return nil, fmt.Errorf("store: migration %q: versions must run 1, 2, 3 ... without gaps", ms[i].Name)
		}
	}
	return ms, nil
}

const versionsTable = `CREATE TABLE IF NOT EXISTS schema_versions (
	owner   TEXT PRIMARY KEY,
	version INTEGER NOT NULL
)`

// Version reports the schema version of owner (0 when never migrated).
func Version(ctx context.Context, db *sql.DB, owner string) (int, error) {
	if _, err := db.ExecContext(ctx, versionsTable); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	var v int
	err := db.QueryRowContext(ctx, `SELECT version FROM schema_versions WHERE owner = ?`, owner).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: read schema version of %s: %w", owner, err)
	}
	return v, nil
}

// Migrate applies owner's migrations from fsys that the database lacks, each
// in its own transaction together with the version bump.
func Migrate(ctx context.Context, db *sql.DB, owner string, fsys fs.FS) error {
	ms, err := Migrations(fsys)
	if err != nil {
		return err
	}
	if _, err := Version(ctx, db, owner); err != nil { // creates the versions table
		return err
	}
	for _, m := range ms {
		// Each step re-reads the version inside its (immediate) transaction,
		// so two processes opening a new database at once do not both run
		// the same step.
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migrate %s: %w", owner, err)
		}
		var have int
		err = tx.QueryRowContext(ctx, `SELECT version FROM schema_versions WHERE owner = ?`, owner).Scan(&have)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			tx.Rollback()
			return fmt.Errorf("store: read schema version of %s: %w", owner, err)
		}
		if have > len(ms) {
			tx.Rollback()
			return fmt.Errorf("%w: %s is at version %d, this binary knows %d", ErrAhead, owner, have, len(ms))
		}
		if have >= m.Version {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate %s %s: %w", owner, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO schema_versions (owner, version) VALUES (?, ?)
			 ON CONFLICT (owner) DO UPDATE SET version = excluded.version`, owner, m.Version); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate %s %s: %w", owner, m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migrate %s %s: %w", owner, m.Name, err)
		}
	}
	return nil
}

// Check reports whether owner's schema matches the migrations in fsys
// exactly: ErrBehind or ErrAhead (wrapped) when it does not.
func Check(ctx context.Context, db *sql.DB, owner string, fsys fs.FS) error {
	ms, err := Migrations(fsys)
	if err != nil {
		return err
	}
	have, err := Version(ctx, db, owner)
	if err != nil {
		return err
	}
	switch {
	case have < len(ms):
		return fmt.Errorf("%w: %s is at version %d of %d", ErrBehind, owner, have, len(ms))
	case have > len(ms):
		return fmt.Errorf("%w: %s is at version %d, this binary knows %d", ErrAhead, owner, have, len(ms))
	}
	return nil
}

// A Schema is one package's tables: its name in schema_versions and its
// numbered migrations.
type Schema struct {
	Owner string
	Files fs.FS // NNNN_name.sql at the top
}

// NewSchema is owner's schema from an embed.FS holding a "migrations"
// folder (//go:embed migrations/*.sql).
func NewSchema(owner string, embedded fs.FS) Schema {
	sub, err := fs.Sub(embedded, "migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder exists
	}
	return Schema{Owner: owner, Files: sub}
}

// Migrate applies the schema's migrations the database lacks.
func (s Schema) Migrate(ctx context.Context, db *sql.DB) error {
	return Migrate(ctx, db, s.Owner, s.Files)
}

// Check reports whether the database matches the schema exactly.
func (s Schema) Check(ctx context.Context, db *sql.DB) error {
	return Check(ctx, db, s.Owner, s.Files)
}
