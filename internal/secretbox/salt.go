package secretbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"keycard/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// schema is secretbox's table ("secretbox" in schema_versions).
var schema = store.NewSchema("secretbox", migrationFiles)

// Migrate creates or updates secretbox's table.
func Migrate(ctx context.Context, db *sql.DB) error { return schema.Migrate(ctx, db) }

// Check reports whether secretbox's table is current.
func Check(ctx context.Context, db *sql.DB) error { return schema.Check(ctx, db) }

// Salt returns the database's sealing salt, creating it on first use.
func Salt(ctx context.Context, db *sql.DB) ([]byte, error) {
	var salt []byte
	err := db.QueryRowContext(ctx, `SELECT salt FROM secretbox_salt WHERE id = 1`).Scan(&salt)
	if errors.Is(err, sql.ErrNoRows) {
		fresh := make([]byte, SaltSize)
		if _, err := rand.Read(fresh); err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		// Two processes may race to create it: the first insert wins and
		// both read the winner's salt back.
		if _, err := db.ExecContext(ctx, `INSERT INTO secretbox_salt (id, salt) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`, fresh); err != nil {
			return nil, fmt.Errorf("secretbox: store salt: %w", err)
		}
		err = db.QueryRowContext(ctx, `SELECT salt FROM secretbox_salt WHERE id = 1`).Scan(&salt)
	}
	if err != nil {
		return nil, fmt.Errorf("secretbox: read salt: %w", err)
	}
	if len(salt) < SaltSize {
		return nil, fmt.Errorf("secretbox: the stored salt is damaged (%d bytes)", len(salt))
	}
	return salt, nil
}
