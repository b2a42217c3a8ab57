package webhooks

import (
	"context"
	"database/sql"
	"embed"
	"time"

	"keycard/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// schema is this package's tables ("webhooks" in schema_versions).
var schema = store.NewSchema("webhooks", migrationFiles)

// Migrate creates or upgrades the outbox tables.
func Migrate(ctx context.Context, db *sql.DB) error { return schema.Migrate(ctx, db) }

// Check reports whether the outbox tables match this binary
// (store.ErrBehind / store.ErrAhead, wrapped, when they do not).
func Check(ctx context.Context, db *sql.DB) error { return schema.Check(ctx, db) }

// Times are stored as UTC unix nanoseconds.
func dbTime(t time.Time) int64 { return t.UTC().UnixNano() }

func fromDB(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNull(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromDB(n.Int64)
	return &t
}
