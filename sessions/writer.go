package sessions

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
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

	key sessionKey // the session a record, disconnect or refresh touched
	n   int        // sessions closed by opCloseNAS
	err error      // this op's own failure (no such session); the batch still commits
}

func (k opKind) String() string {
	switch k {
	case opRecord:
		return "record"
	case opCloseNAS:
		return "close NAS"
	case opDisconnect:
		return "record disconnect"
	case opRefresh:
		return "refresh"
	}
	return "operation"
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
		s.received.Add(int64(len(batch)))
		s.commit(batch)
		clear(batch)
		// Let the callers just woken run before the next transaction:
		// they were readied on this goroutine's P, and would otherwise
		// wait behind its cgo calls until the runtime moved them to
		// another thread (sysmon takes the P back after 20µs of a call,
		// and wakes a thread for it), about a context switch more per
		// record. The records they are answering for can then make the
		// next batch, too.
		runtime.Gosched()
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
	for i := range b.sessions {
		sess := &b.sessions[i]
		if sess.Open() {
			c.putLocked(sess).epoch = s.epoch // exactly as committed
		} else {
			c.removeLocked(sessionKey{sess.NAS, sess.AcctSessionID})
		}
	}
	c.mu.Unlock()

	now := s.now()
	debug := s.log.Enabled(context.Background(), slog.LevelDebug)
	for _, o := range ops {
		res := opResult{n: o.n, err: o.err}
		if o.kind == opRecord {
			res.session = clone(b.sessions[b.touched[o.key]])
			s.setStale(&res.session, now)
			if debug {
				s.log.LogAttrs(context.Background(), slog.LevelDebug, "sessions: accounting recorded",
					slog.String("kind", o.rec.Kind.String()), slog.String("nas", o.rec.NAS), slog.String("nas_port", o.rec.NASPort),
					slog.String("acct_session_id", o.rec.AcctSessionID), slog.Int64("session", res.session.ID),
					slog.Int64("stay", res.session.StayID), slog.Int64("device", res.session.DeviceID), slog.Bool("open", res.session.Open()))
			}
		}
		o.done <- res
	}
}

// batch is one transaction's worth of operations. Each runs as one
// statement, in the order queued, merging in SQL onto the row as the
// database has it: there is no read before a write, and a change another
// process made (keycard session kick recording a Disconnect outcome or
// closing a session) is merged onto, never overwritten. The batch ends
// knowing each session it touched as committed: what the cache and the
// callers get.
type batch struct {
	s        *Store
	ctx      context.Context
	w        *wconn
	touched  map[sessionKey]int // index in sessions of each session written or read
	sessions []Session          // the latest row of each, in the order first touched
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
	var b *batch
	err = conn.Raw(func(dc any) error {
		var err error
		b, err = s.applyOn(ctx, dc.(driver.Conn), ops)
		return err
	})
	if err != nil && (errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)) && !s.memory {
		conn.Close()
		s.conn = nil // take a new connection for the next batch
		s.versionKnown = false
	}
	return b, err
}

func (s *Store) applyOn(ctx context.Context, dc driver.Conn, ops []*op) (*batch, error) {
	w, err := s.on(ctx, dc)
	if err != nil {
		return nil, err
	}
	tx, err := w.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("sessions: begin: %w", err)
	}
	b := &batch{s: s, ctx: ctx, w: w, touched: make(map[sessionKey]int, len(ops)), sessions: make([]Session, 0, len(ops))}
	if err := b.observe(); err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := b.run(ops); err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sessions: commit: %w", err)
	}
	return b, nil
}

// observe starts a new epoch when the database may have changed since the
// writer's last transaction other than by the writer itself: another
// connection committed (SQLite's data_version, read once the transaction
// holds the write lock, so nothing else commits until it ends), the
// writer's connection is new, or the database is in memory (where the
// writer's connection is not its own). Until then the cached sessions are
// the rows exactly as the writer last wrote or read them. A PostgreSQL
// backend would start a new epoch at every transaction, or keep a version
// column to compare.
func (b *batch) observe() error {
	s := b.s
	if s.memory {
		s.epoch++
		return nil
	}
	var v int64
	found, err := b.w.queryRow(b.ctx, stmtDataVersion, 0, func(row []driver.Value) error {
		var d decoder
		v = d.int(row[0])
		return d.err
	})
	if err == nil && !found {
		err = errors.New("no row")
	}
	if err != nil {
		return fmt.Errorf("sessions: data version: %w", err)
	}
	if !s.versionKnown || v != s.dataVersion {
		s.epoch++
		s.dataVersion, s.versionKnown = v, true
	}
	return nil
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
			err = b.byID(o)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// record merges o.rec into its session with one statement. The database
// merges it onto the row it has; the writer learns the result without
// reading it back when it knows that row exactly (from earlier in this
// batch, or from the cache in the current epoch) by merging its copy
// alike, or when the session is new. Otherwise the statement returns the
// row.
func (b *batch) record(o *op) error {
	o.key = sessionKey{o.rec.NAS, o.rec.AcctSessionID}
	n := recordArgs(b.w, &o.rec)
	if sess, ok := b.exact(o.key); ok {
		if err := b.w.merge(b.ctx, columnsFor(&o.rec, &sess), n); err != nil {
			return fmt.Errorf("sessions: write session %s/%s: %w", o.rec.NAS, o.rec.AcctSessionID, err)
		}
		b.warnStay(o, &sess)
		merge(&sess, &o.rec)
		b.touch(o.key, sess)
		return nil
	}
	if !b.s.cache.lru.Contains(o.key) {
		// Most likely a new session (else closed, dropped from the
		// cache, or written by another process).
		var id int64
		inserted, err := b.w.queryRow(b.ctx, stmtInsert, n, func(row []driver.Value) error {
			var d decoder
			id = d.int(row[0])
			return d.err
		})
		if err != nil {
			return fmt.Errorf("sessions: insert session %s/%s: %w", o.rec.NAS, o.rec.AcctSessionID, err)
		}
		if inserted {
			var sess Session
			merge(&sess, &o.rec)
			sess.ID = id
			b.touch(o.key, sess)
			return nil
		}
	}
	if err := b.returning(o, stmtMergeReturning, n, func(sess *Session) { b.warnStay(o, sess) }); err != nil {
		return err
	}
	o.n = 0
	return nil
}

// returning runs statement id, with the first n of the writer's
// arguments, and touches every row it returns, after calling each (when
// not nil) with it. It reports how many rows there were.
func (b *batch) returning(o *op, id stmtID, n int, each func(*Session)) error {
	count := 0
	err := b.w.query(b.ctx, id, n, func(row []driver.Value) error {
		sess, err := decodeSession(row)
		if err != nil {
			return err
		}
		if each != nil {
			each(&sess)
		}
		b.touch(sessionKey{sess.NAS, sess.AcctSessionID}, sess)
		count++
		return nil
	})
	if err != nil {
		return fmt.Errorf("sessions: %s: %w", o.kind, err)
	}
	o.n = count
	return nil
}

// exact returns session k as the database has it now, when the writer
// knows that without asking: the batch has touched it, or the cache holds
// it as of the current epoch.
func (b *batch) exact(k sessionKey) (Session, bool) {
	if i, ok := b.touched[k]; ok {
		return clone(b.sessions[i]), true
	}
	// Only the writer changes the cache, so it reads it without the lock.
	if l, ok := b.s.cache.lru.Peek(k); ok && l.epoch == b.s.epoch {
		return l.session(), true
	}
	return Session{}, false
}

// warnStay logs a record that names another stay than its session, which
// keeps its first (stored is the session before or after the merge: its
// stay is the same).
func (b *batch) warnStay(o *op, stored *Session) {
	if o.rec.StayID != 0 && stored.StayID != 0 && stored.StayID != o.rec.StayID {
		b.s.log.Warn("sessions: record names another stay than its session; keeping the first",
			"nas", o.rec.NAS, "acct_session_id", o.rec.AcctSessionID, "stay", stored.StayID, "record_stay", o.rec.StayID)
	}
}

func (b *batch) closeNAS(o *op) error {
	// The database has every session of the NAS, those this batch wrote
	// and those the cache dropped.
	w := b.w
	w.set(0, dbTime(o.at))
	w.set(1, o.text)
	w.set(2, o.nas)
	w.set(3, dbTime(o.at))
	if err := b.returning(o, stmtCloseOpenAt, 4, nil); err != nil {
		return err
	}
	b.s.log.Info("sessions: closed the open sessions of a NAS", "nas", o.nas, "at", o.at, "cause", o.text, "closed", o.n)
	return nil
}

func (b *batch) disconnect(o *op) error {
	w := b.w
	w.set(0, dbTime(o.at))
	w.set(1, o.text)
	w.set(2, o.id)
	w.set(3, dbTime(o.at))
	if err := b.returning(o, stmtSetDisconnect, 4, func(sess *Session) { o.key = sessionKey{sess.NAS, sess.AcctSessionID} }); err != nil {
		return err
	}
	if o.n == 0 {
		// No such session, or it has a later outcome already.
		return b.byID(o)
	}
	o.n = 0
	return nil
}

// byID reads session o.id, or sets o.err to ErrUnknownSession.
func (b *batch) byID(o *op) error {
	b.w.set(0, o.id)
	if err := b.returning(o, stmtSelectByID, 1, func(sess *Session) { o.key = sessionKey{sess.NAS, sess.AcctSessionID} }); err != nil {
		return err
	}
	if o.n == 0 {
		o.err = fmt.Errorf("%w (id %d)", ErrUnknownSession, o.id)
	}
	o.n = 0
	return nil
}

// touch keeps sess as the batch's latest copy of session k.
func (b *batch) touch(k sessionKey, sess Session) {
	if i, ok := b.touched[k]; ok {
		b.sessions[i] = sess
		return
	}
	b.touched[k] = len(b.sessions)
	b.sessions = append(b.sessions, sess)
}
