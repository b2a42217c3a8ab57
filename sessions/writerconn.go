package sessions

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// The writer's statements, prepared once on its connection (the merges,
// one per set of mergeColumns, when first used).
type stmtID int

const (
	stmtMergeReturning stmtID = iota
	stmtInsert
	stmtCloseOpenAt
	stmtSetDisconnect
	stmtSelectByID
	stmtDataVersion
	numStmts
)

var stmtQueries = [numStmts]string{
	stmtMergeReturning: mergeSessionReturning,
	stmtInsert:         insertSession,
	stmtCloseOpenAt:    closeOpenAt,
	stmtSetDisconnect:  setDisconnect,
	stmtSelectByID:     selectByID,
	stmtDataVersion:    dataVersion,
}

// wconn is the writer's connection as the database driver has it, with
// the writer's statements prepared on it. The writer talks to it through
// database/sql/driver, inside sql.Conn.Raw, rather than through
// database/sql: a record is one statement, and what database/sql does
// around each one (locks, a copy and a conversion of every argument, a
// Result or Rows to allocate) took about as much CPU as SQLite's work.
// Only the writer goroutine uses it, and only inside Raw on the *sql.Conn
// it came from, which the writer holds (an in-memory database's one
// connection goes back to the pool between batches; its statements stay
// prepared on it, and are prepared again if the pool hands out another).
type wconn struct {
	dc     driver.Conn
	stmts  [numStmts]driver.Stmt
	merges [mergeAll + 1]driver.Stmt         // mergeSession(cols), by cols
	args   [upsertArgCount]driver.NamedValue // the arguments of the statement being run
	row    [columnCount]driver.Value         // the row being read
}

// on returns the writer's statements on dc, preparing them when dc is not
// the connection they were prepared on.
func (s *Store) on(ctx context.Context, dc driver.Conn) (*wconn, error) {
	if s.w != nil && s.w.dc == dc {
		return s.w, nil
	}
	if s.w != nil {
		s.w.close()
		s.w = nil
	}
	if _, ok := dc.(driver.ConnPrepareContext); !ok {
		return nil, errors.New("sessions: the database driver cannot prepare statements with a context")
	}
	if _, ok := dc.(driver.ConnBeginTx); !ok {
		return nil, errors.New("sessions: the database driver cannot begin transactions with a context")
	}
	w := &wconn{dc: dc}
	for i := range w.args {
		w.args[i].Ordinal = i + 1
	}
	for i, q := range stmtQueries {
		st, err := w.prepare(ctx, q)
		if err != nil {
			w.close()
			return nil, err
		}
		w.stmts[i] = st
	}
	s.w = w
	return w, nil
}

func (w *wconn) prepare(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := w.dc.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sessions: prepare: %w", err)
	}
	_, canExec := st.(driver.StmtExecContext)
	_, canQuery := st.(driver.StmtQueryContext)
	if !canExec || !canQuery {
		st.Close()
		return nil, errors.New("sessions: the database driver cannot run statements with a context")
	}
	return st, nil
}

func (w *wconn) close() {
	for _, sts := range [][]driver.Stmt{w.stmts[:], w.merges[:]} {
		for i, st := range sts {
			if st != nil {
				st.Close()
				sts[i] = nil
			}
		}
	}
}

// merge runs mergeSession(cols) with the first n of w.args.
func (w *wconn) merge(ctx context.Context, cols mergeColumns, n int) error {
	st := w.merges[cols]
	if st == nil {
		var err error
		if st, err = w.prepare(ctx, mergeSession(cols)); err != nil {
			return err
		}
		w.merges[cols] = st
	}
	_, err := st.(driver.StmtExecContext).ExecContext(ctx, w.args[:n])
	return err
}

// begin starts the batch's transaction (BEGIN IMMEDIATE, as the pool's
// DSN asks of every transaction: the write lock is taken at once).
func (w *wconn) begin(ctx context.Context) (driver.Tx, error) {
	return w.dc.(driver.ConnBeginTx).BeginTx(ctx, driver.TxOptions{})
}

// query runs statement id with the first n of w.args and calls row for
// each row it returns, with the row in w.row (valid until row returns).
func (w *wconn) query(ctx context.Context, id stmtID, n int, row func([]driver.Value) error) error {
	rows, err := w.stmts[id].(driver.StmtQueryContext).QueryContext(ctx, w.args[:n])
	if err != nil {
		return err
	}
	cols := len(rows.Columns())
	for {
		dest := w.row[:cols]
		clear(dest)
		err := rows.Next(dest)
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			err = row(dest)
		}
		if err != nil {
			rows.Close()
			return err
		}
	}
	return rows.Close()
}

// queryRow is query for a statement that returns at most one row: it
// reports whether there was one.
func (w *wconn) queryRow(ctx context.Context, id stmtID, n int, row func([]driver.Value) error) (bool, error) {
	found := false
	err := w.query(ctx, id, n, func(v []driver.Value) error {
		found = true
		return row(v)
	})
	return found, err
}

// set puts v in the i-th argument.
func (w *wconn) set(i int, v driver.Value) { w.args[i].Value = v }

// writerConn returns the writer's connection, taking one from the pool if
// it has none. On a database file it makes every commit on it durable:
// internal/store opens SQLite in WAL mode with synchronous=NORMAL, under
// which a commit is not fsynced (a power cut may lose the last ones);
// FULL fsyncs the WAL at each commit. fullfsync asks macOS for a real
// flush to the disk (F_FULLFSYNC) and does nothing elsewhere. A
// PostgreSQL backend would need neither: its commits are durable with the
// default synchronous_commit.
func (s *Store) writerConn(ctx context.Context) (*sql.Conn, error) {
	if s.conn != nil {
		return s.conn, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sessions: writer connection: %w", err)
	}
	if s.memory {
		return conn, nil
	}
	for _, pragma := range []string{`PRAGMA synchronous = FULL`, `PRAGMA fullfsync = ON`} {
		if _, err := conn.ExecContext(ctx, pragma); err != nil {
			conn.Close()
			return nil, fmt.Errorf("sessions: writer connection: %s: %w", pragma, err)
		}
	}
	var mode int
	if err := conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&mode); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sessions: writer connection: %w", err)
	}
	if mode < 2 {
		conn.Close()
		return nil, fmt.Errorf("sessions: writer connection: synchronous is %d, not FULL (2): commits would not be fsynced", mode)
	}
	s.conn = conn
	return conn, nil
}
