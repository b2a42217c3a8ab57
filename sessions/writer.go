package sessions

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// opKind is what a queued write does.
type opKind uint8

const (
	opRecord     opKind = iota // merge rec into its session
	opCloseNAS                 // close nas's open sessions at at, cause text
	opDisconnect               // set session id's disconnect outcome text at at
	opRefresh                  // re-read session id into the cache
)

// op is one write waiting for the writer. The caller fills in the request;
// the writer fills in key, n and err while it applies the batch.
type op struct {
	kind opKind
	rec  Record
	nas  string
	at   time.Time
	text string
	id   int64
	done chan opResult // buffered: the writer never blocks on a caller that gave up

	key sessionKey // the session a record or disconnect touched
	n   int        // sessions closed by opCloseNAS
	err error      // this op's own failure (no such session); the batch still commits
}

type opResult struct {
	session Session
	n       int
	err     error
}

// run is the writer goroutine: it takes what is queued, up to maxBatch
// operations, applies them in one transaction and wakes their callers,
// until Close closes the queue and it is empty.
//
// This is group commit: while one transaction is being fsynced, the
// records that arrive meanwhile queue up and go into the next one, so a
// busy server pays one fsync for many records and an idle one answers
// each record after one fsync.
func (s *Store) run() {
	defer close(s.done)
	batch := make([]*op, 0, s.maxBatch)
	for {
		o, ok := <-s.queue
		if !ok {
			return
		}
		batch = append(batch[:0], o)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case o, ok := <-s.queue:
				if !ok {
					break fill // closed: write this batch; the next receive ends the loop
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
		clear(batch)
	}
}

// commit applies batch in one transaction, then updates the cache and
// answers each caller. When the transaction fails every caller gets the
// error and the cache is left as it was.
func (s *Store) commit(ops []*op) {
	b, err := s.apply(ops)
	if err != nil {
		s.log.Error("sessions: write failed; the batch was rolled back", "operations", len(ops), "err", err)
		for _, o := range ops {
			o.done <- opResult{err: err}
		}
		return
	}
	s.commits.Add(1)

	c := s.cache
	c.mu.Lock()
	for _, p := range b.order {
		if p.s.Open() {
			c.putLocked(&p.s)
		} else {
			c.removeLocked(sessionKey{p.s.NAS, p.s.AcctSessionID})
		}
	}
	c.mu.Unlock()

	now := s.now()
	debug := s.log.Enabled(context.Background(), slog.LevelDebug)
	for _, o := range ops {
		res := opResult{n: o.n, err: o.err}
		if o.kind == opRecord {
			res.session = clone(b.pending[o.key].s)
			s.setStale(&res.session, now)
			if debug {
				s.log.Debug("sessions: accounting recorded", "kind", o.rec.Kind, "nas", o.rec.NAS, "nas_port", o.rec.NASPort,
					"acct_session_id", o.rec.AcctSessionID, "session", res.session.ID,
					"stay", res.session.StayID, "device", res.session.DeviceID, "open", res.session.Open())
			}
		}
		o.done <- res
	}
}

// pending is a session as this batch has it so far.
type pending struct {
	s     Session
	dirty bool // to be written (new sessions have s.ID == 0)
}

// batch is one transaction's worth of operations. Each session is read
// from the database once, merged in memory by every operation in turn, and
// written once at the end if it changed.
type batch struct {
	s       *Store
	ctx     context.Context
	tx      *sql.Tx
	pending map[sessionKey]*pending
	order   []*pending // pending in the order first touched, for deterministic writes
	stmts   map[string]*sql.Stmt
}

// apply runs ops in one transaction on the writer's connection.
func (s *Store) apply(ops []*op) (*batch, error) {
	// The write goes ahead even when every caller has given up: the
	// record reached Keycard and is worth keeping.
	ctx := context.Background()
	conn, err := s.writerConn(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if s.memory {
			conn.Close() // give an in-memory database's only connection back
		}
	}()
	b, err := s.applyOn(ctx, conn, ops)
	if err != nil && (errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)) && !s.memory {
		conn.Close()
		s.conn = nil // take a new connection for the next batch
	}
	return b, err
}

func (s *Store) applyOn(ctx context.Context, conn *sql.Conn, ops []*op) (*batch, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sessions: begin: %w", err)
	}
	b := &batch{s: s, ctx: ctx, tx: tx, pending: make(map[sessionKey]*pending, len(ops)), stmts: make(map[string]*sql.Stmt)}
	defer b.closeStmts()
	if err := b.run(ops); err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sessions: commit: %w", err)
	}
	return b, nil
}

func (b *batch) run(ops []*op) error {
	for _, o := range ops {
		var err error
		switch o.kind {
		case opRecord:
			err = b.record(o)
		case opCloseNAS:
			err = b.closeNAS(o)
		case opDisconnect:
			err = b.disconnect(o)
		case opRefresh:
			_, err = b.byID(o)
		}
		if err != nil {
			return err
		}
	}
	for _, p := range b.order {
		if !p.dirty {
			continue
		}
		args := writeArgs(&p.s)
		if p.s.ID == 0 {
			st, err := b.stmt(insertSession)
			if err != nil {
				return err
			}
			if err := st.QueryRowContext(b.ctx, args...).Scan(&p.s.ID); err != nil {
				return fmt.Errorf("sessions: insert session %s/%s: %w", p.s.NAS, p.s.AcctSessionID, err)
			}
			continue
		}
		st, err := b.stmt(updateSession)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(b.ctx, append(args[2:], p.s.ID)...); err != nil {
			return fmt.Errorf("sessions: update session %d: %w", p.s.ID, err)
		}
	}
	return nil
}

func (b *batch) record(o *op) error {
	o.key = sessionKey{o.rec.NAS, o.rec.AcctSessionID}
	p, err := b.lookup(o.key)
	if err != nil {
		return err
	}
	if o.rec.StayID != 0 && p.s.StayID != 0 && o.rec.StayID != p.s.StayID {
		b.s.log.Warn("sessions: record names another stay than its session; keeping the first",
			"nas", o.rec.NAS, "acct_session_id", o.rec.AcctSessionID, "stay", p.s.StayID, "record_stay", o.rec.StayID)
	}
	before := p.s
	merge(&p.s, &o.rec)
	if p.s.ID == 0 || !same(&before, &p.s) {
		p.dirty = true
	}
	return nil
}

func (b *batch) closeNAS(o *op) error {
	due := func(s *Session) bool { return s.NAS == o.nas && s.Open() && !s.UpdatedAt.After(o.at) }
	// Sessions this batch already holds (some not in the database yet) ...
	for _, p := range b.order {
		if due(&p.s) {
			closeAt(&p.s, o.at, o.text)
			p.dirty = true
			o.n++
		}
	}
	// ... and the others, from the database: it has the open sessions the
	// cache dropped, too.
	st, err := b.stmt(selectOpenAt)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(b.ctx, o.nas, dbTime(o.at))
	if err != nil {
		return fmt.Errorf("sessions: open sessions of NAS %s: %w", o.nas, err)
	}
	var found []Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			rows.Close()
			return err
		}
		found = append(found, sess)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sessions: open sessions of NAS %s: %w", o.nas, err)
	}
	for _, sess := range found {
		k := sessionKey{sess.NAS, sess.AcctSessionID}
		if _, ok := b.pending[k]; ok {
			continue // handled above, as this batch has it
		}
		p := b.add(k, sess)
		closeAt(&p.s, o.at, o.text)
		p.dirty = true
		o.n++
	}
	b.s.log.Info("sessions: closed the open sessions of a NAS", "nas", o.nas, "at", o.at, "cause", o.text, "closed", o.n)
	return nil
}

func (b *batch) disconnect(o *op) error {
	p, err := b.byID(o)
	if p == nil || err != nil {
		return err
	}
	if p.s.DisconnectAt == nil || !o.at.Before(*p.s.DisconnectAt) {
		at := o.at
		p.s.DisconnectAt = &at
		p.s.DisconnectOutcome = o.text
		p.dirty = true
	}
	return nil
}

// byID returns session o.id as this batch has it, or sets o.err to
// ErrUnknownSession and returns nil.
func (b *batch) byID(o *op) (*pending, error) {
	for _, p := range b.order {
		if p.s.ID == o.id && o.id != 0 {
			o.key = sessionKey{p.s.NAS, p.s.AcctSessionID}
			return p, nil
		}
	}
	st, err := b.stmt(selectByID)
	if err != nil {
		return nil, err
	}
	sess, err := scanSession(st.QueryRowContext(b.ctx, o.id))
	if errors.Is(err, sql.ErrNoRows) {
		o.err = fmt.Errorf("%w (id %d)", ErrUnknownSession, o.id)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	o.key = sessionKey{sess.NAS, sess.AcctSessionID}
	if p := b.pending[o.key]; p != nil {
		return p, nil
	}
	return b.add(o.key, sess), nil
}

// lookup returns the session k as this batch has it: from an earlier
// operation of the batch, else from the database, read inside this
// transaction (which holds the write lock). The cache is not used here:
// another process may have changed the row since (keycard session kick
// records a Disconnect outcome, or closes a session the NAS had lost), and
// merging onto a stale copy would undo that. A session the database does
// not have is new (ID 0).
func (b *batch) lookup(k sessionKey) (*pending, error) {
	if p := b.pending[k]; p != nil {
		return p, nil
	}
	st, err := b.stmt(selectByKey)
	if err != nil {
		return nil, err
	}
	sess, err := scanSession(st.QueryRowContext(b.ctx, k.nas, k.acctSessionID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return b.add(k, Session{}), nil
	case err != nil:
		return nil, err
	}
	return b.add(k, sess), nil
}

func (b *batch) add(k sessionKey, s Session) *pending {
	p := &pending{s: s}
	b.pending[k] = p
	b.order = append(b.order, p)
	return p
}

// stmt is query, prepared once for the Store, on the batch's transaction.
// (Prepared on the *sql.DB, database/sql keeps one statement per
// connection and reuses it in every transaction on the writer's: a
// statement prepared on the Conn itself would be prepared again in each.)
func (b *batch) stmt(query string) (*sql.Stmt, error) {
	if st := b.stmts[query]; st != nil {
		return st, nil
	}
	prepared := b.s.stmts[query]
	if prepared == nil {
		return nil, fmt.Errorf("sessions: statement not prepared: %s", query)
	}
	st := b.tx.StmtContext(b.ctx, prepared)
	b.stmts[query] = st
	return st, nil
}

func (b *batch) closeStmts() {
	for _, st := range b.stmts {
		st.Close()
	}
}

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
