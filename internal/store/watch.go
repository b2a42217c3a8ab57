package store

import (
	"context"
	"database/sql"
	"time"
)

// Watch calls changed whenever another connection (another process, or
// another connection of this one) has committed to db, checking every
// interval until ctx ends. It holds one connection of its own and asks
// SQLite's PRAGMA data_version, which changes only when somebody else
// committed and costs no table read, so watching is cheap enough to do
// several times a second. changed is called once at the start as well, so
// nothing committed before Watch began is missed. If the pragma cannot be
// read (another database engine; PostgreSQL would use LISTEN/NOTIFY),
// changed is called every interval instead.
func Watch(ctx context.Context, db *sql.DB, interval time.Duration, changed func(context.Context)) {
	conn, err := db.Conn(ctx)
	if err != nil {
		conn = nil
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	version := func() (int64, bool) {
		if conn == nil {
			return 0, false
		}
		var v int64
		if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
			return 0, false
		}
		return v, true
	}
	last, _ := version()
	changed(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, ok := version()
		if ok && v == last {
			continue
		}
		last = v
		changed(ctx)
	}
}
