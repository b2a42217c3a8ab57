// Package store opens Keycard's one SQLite database and runs each package's
// embedded migrations.
//
// The database handle is opened once by cmd/keycard and handed to every
// package that owns tables (vouchers, radiusd, ...). Each owner keeps its
// schema as numbered .sql files in an embed.FS and calls Migrate with its own
// name, so packages never touch each other's tables. The SQL is kept portable
// so a PostgreSQL backend can follow.
package store
