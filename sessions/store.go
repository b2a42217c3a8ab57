package sessions

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"keycard/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// schema is this package's tables ("sessions" in schema_versions).
var schema = store.NewSchema("sessions", migrationFiles)

// Migrate creates or upgrades the sessions table.
func Migrate(ctx context.Context, db *sql.DB) error { return schema.Migrate(ctx, db) }

// Check reports whether the sessions table matches this binary
// (store.ErrBehind / store.ErrAhead, wrapped, when it does not).
func Check(ctx context.Context, db *sql.DB) error { return schema.Check(ctx, db) }

// Errors callers branch on; test with errors.Is.
var (
	// ErrUnknownSession: no session has the given id.
	ErrUnknownSession = errors.New("sessions: no such session")
	// ErrInvalidRecord: the record lacks what identifies it (NAS,
	// Acct-Session-Id, a known Acct-Status-Type, a time). Retrying it cannot
	// succeed: radiusd should drop the packet and count it rather than leave
	// the NAS retransmitting.
	ErrInvalidRecord = errors.New("sessions: invalid accounting record")
	// ErrClosed: the Store was closed; nothing was written.
	ErrClosed = errors.New("sessions: store is closed")
)

// Defaults for Options.
const (
	DefaultCacheSize       = 100_000
	DefaultInterimInterval = 10 * time.Minute
	DefaultMaxBatch        = 512
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// CacheSize is how many open sessions are held in memory (default
	// 100,000). When more are open, the least recently updated ones drop
	// out of Online, OnlineDevices and ByAddress (they stay open in the
	// database and come back with their next record); the first such
	// eviction is logged as a warning.
	CacheSize int
	// InterimInterval is the Acct-Interim-Interval Keycard asks NASes for
	// (default 10m). An open session with no record for more than twice
	// this is Stale.
	InterimInterval time.Duration
	// MaxBatch is the most records written in one transaction (default 512).
	MaxBatch int
	Now      func() time.Time // default time.Now
	Logger   *slog.Logger     // default discards
}

// Store is the accounting sessions: the table, a group-committing writer
// and a cache of the open sessions. It is safe for concurrent use.
type Store struct {
	db         *sql.DB
	now        func() time.Time
	log        *slog.Logger
	staleAfter time.Duration
	maxBatch   int
	cache      *cache

	// The writer goroutine owns conn, memory and everything in a batch.
	queue  chan *op
	done   chan struct{}
	conn   *sql.Conn // the writer's connection; nil between batches for an in-memory database
	memory bool      // an in-memory database: no file to fsync, and often a pool of one connection

	sendMu sync.RWMutex // held shared while enqueueing, exclusively by Close
	closed bool
	ops    sync.Pool // of *op with their done channel, free for newOp

	w *wconn // the writer's statements, on its connection

	// What the writer knows of the database (see observe): epoch counts
	// the times another connection may have changed it behind the
	// writer's back; a cached session stamped with the current epoch is
	// exactly the row in the database.
	epoch        uint64
	dataVersion  int64
	versionKnown bool // dataVersion was read on the current connection

	commits  atomic.Int64 // transactions committed by the writer
	received atomic.Int64 // operations the writer has taken off the queue
}

// New returns a Store on db (whose tables Migrate has created). It loads
// every open session into the cache, so after a restart, even after a
// crash, Online knows who is on the network, then starts the writer.
// Call Close when done; the database stays open (it belongs to the caller).
func New(ctx context.Context, db *sql.DB, opts Options) (*Store, error) {
	s, err := newStore(ctx, db, opts)
	if err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

// newStore is New without starting the writer.
func newStore(ctx context.Context, db *sql.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sessions: no database")
	}
	s := &Store{db: db, now: opts.Now, log: opts.Logger, maxBatch: opts.MaxBatch}
	size := opts.CacheSize
	switch {
	case size == 0:
		size = DefaultCacheSize
	case size < 0:
		return nil, fmt.Errorf("sessions: CacheSize %d is negative", opts.CacheSize)
	}
	interval := opts.InterimInterval
	switch {
	case interval == 0:
		interval = DefaultInterimInterval
	case interval < 0:
		return nil, fmt.Errorf("sessions: InterimInterval %s is negative", opts.InterimInterval)
	}
	s.staleAfter = 2 * interval
	switch {
	case s.maxBatch == 0:
		s.maxBatch = DefaultMaxBatch
	case s.maxBatch < 0:
		return nil, fmt.Errorf("sessions: MaxBatch %d is negative", opts.MaxBatch)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.cache, err = newCache(size, s.log); err != nil {
		return nil, err
	}
	if s.memory, err = inMemory(ctx, db); err != nil {
		return nil, err
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	// Take the writer's connection and prepare its statements now: a
	// database that cannot be made durable, or that rejects a statement,
	// fails here, not at the first accounting packet.
	if err := s.prepare(ctx); err != nil {
		s.closeWriter()
		return nil, err
	}
	s.ops.New = func() any { return &op{done: make(chan opResult, 1)} }
	s.queue = make(chan *op, 4*s.maxBatch)
	s.done = make(chan struct{})
	return s, nil
}

// inMemory reports whether db is an in-memory SQLite database (its main
// database has no file).
func inMemory(ctx context.Context, db *sql.DB) (bool, error) {
	rows, err := db.QueryContext(ctx, `PRAGMA database_list`)
	if err != nil {
		return false, fmt.Errorf("sessions: inspect database: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int
		var name, file string
		if err := rows.Scan(&seq, &name, &file); err != nil {
			return false, fmt.Errorf("sessions: inspect database: %w", err)
		}
		if name == "main" {
			return file == "", nil
		}
	}
	return false, rows.Err()
}

// load puts every open session into the cache, the most recently updated
// last so that they are the ones kept when there are more than CacheSize.
func (s *Store) load(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+columns+` FROM sessions WHERE stopped_at IS NULL ORDER BY updated_at, id`)
	if err != nil {
		return fmt.Errorf("sessions: load open sessions (has Migrate run?): %w", err)
	}
	defer rows.Close()
	n := 0
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return err
		}
		s.cache.putLocked(&sess)
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sessions: load open sessions: %w", err)
	}
	if n > 0 {
		s.log.Info("sessions: loaded open sessions", "open", n, "cached", s.cache.lru.Len())
	}
	return nil
}

// Close writes what is queued, waits for it to commit and stops the
// writer. Record and the other writes return ErrClosed afterwards; the
// reads keep working. The database stays open.
func (s *Store) Close() error {
	s.sendMu.Lock()
	if s.closed {
		s.sendMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.queue)
	s.sendMu.Unlock()
	<-s.done
	return s.closeWriter()
}

// prepare readies the writer's statements on its connection.
func (s *Store) prepare(ctx context.Context) error {
	conn, err := s.writerConn(ctx)
	if err != nil {
		return err
	}
	if s.memory {
		defer conn.Close()
	}
	return conn.Raw(func(dc any) error {
		_, err := s.on(ctx, dc.(driver.Conn))
		return err
	})
}

// closeWriter closes the writer's statements and connection. An
// in-memory database's statements are closed when the pool hands out
// the connection they are on (else with it).
func (s *Store) closeWriter() error {
	conn := s.conn
	if conn == nil && s.memory && s.w != nil {
		conn, _ = s.db.Conn(context.Background())
		if conn != nil {
			defer conn.Close()
		}
	}
	if conn != nil && s.w != nil {
		conn.Raw(func(dc any) error {
			if s.w.dc == dc {
				s.w.close()
			}
			return nil
		})
	}
	s.w = nil
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		if err != nil {
			return fmt.Errorf("sessions: close writer connection: %w", err)
		}
	}
	return nil
}

// Record merges one accounting record into its session and returns the
// session as committed (including any later record of the same session
// that went into the same transaction). It returns only once the record
// is in the
// database and fsynced: a nil error means the record survives a crash or a
// power cut, so radiusd may acknowledge it.
//
// Records from many callers are written together (group commit): each
// caller waits for the transaction that holds its record. When ctx ends
// first, Record returns ctx.Err() but the record may still be written;
// that is harmless, because merging the retransmission the NAS will send
// changes nothing.
func (s *Store) Record(ctx context.Context, rec Record) (Session, error) {
	if err := validRecord(&rec); err != nil {
		return Session{}, err
	}
	o := s.newOp(opRecord)
	o.rec = rec
	res, err := s.do(ctx, o)
	return res.session, err
}

func validRecord(rec *Record) error {
	switch {
	case rec.Kind != Start && rec.Kind != Stop && rec.Kind != Interim:
		return fmt.Errorf("%w: Acct-Status-Type %d is not Start, Stop or Interim-Update", ErrInvalidRecord, int(rec.Kind))
	case rec.NAS == "":
		return fmt.Errorf("%w: no NAS", ErrInvalidRecord)
	case rec.AcctSessionID == "":
		return fmt.Errorf("%w: no Acct-Session-Id", ErrInvalidRecord)
	case rec.At.IsZero():
		return fmt.Errorf("%w: no time", ErrInvalidRecord)
	case rec.SessionTime < 0:
		return fmt.Errorf("%w: negative Acct-Session-Time", ErrInvalidRecord)
	case rec.StayID < 0 || rec.DeviceID < 0:
		return fmt.Errorf("%w: negative stay or device id", ErrInvalidRecord)
	}
	rec.At = rec.At.UTC() // and no monotonic reading: the cache equals the database
	// The columns are signed 64-bit; 2^63 octets (8 EiB) is a NAS bug.
	for _, c := range []*uint64{&rec.InputOctets, &rec.OutputOctets, &rec.InputPackets, &rec.OutputPackets} {
		*c = min(*c, math.MaxInt64)
	}
	return nil
}

// CloseNAS closes the open sessions of nas, for an Accounting-On or
// Accounting-Off (the NAS rebooted or is going down, so none of them is
// still up): stopped at at, with cause as the terminate cause. A session
// with a record later than at is left open: it started after the reboot
// (a late retransmission of the Accounting-On must not end it). Like
// Record it returns once the change is durable; it reports how many
// sessions it closed.
func (s *Store) CloseNAS(ctx context.Context, nas string, at time.Time, cause string) (int, error) {
	if nas == "" {
		return 0, errors.New("sessions: close NAS: no NAS")
	}
	if at.IsZero() {
		return 0, errors.New("sessions: close NAS: no time")
	}
	o := s.newOp(opCloseNAS)
	o.nas, o.at, o.text = nas, at.UTC(), cause
	res, err := s.do(ctx, o)
	return res.n, err
}

// RecordDisconnect keeps the outcome of the Disconnect-Request or CoA
// Keycard sent for session id at at ("ack", "nak: ...", "no answer", ...),
// durably (ErrUnknownSession when there is no such session). It does not
// close the session: the NAS's Stop does.
func (s *Store) RecordDisconnect(ctx context.Context, id int64, at time.Time, outcome string) error {
	if at.IsZero() {
		return errors.New("sessions: record disconnect: no time")
	}
	o := s.newOp(opDisconnect)
	o.id, o.at, o.text = id, at.UTC(), outcome
	_, err := s.do(ctx, o)
	return err
}

// Refresh reads session id from the database into the cache again (or out
// of it, when it is closed): for a change another process made, such as
// keycard session kick recording a Disconnect outcome or closing a session
// the NAS no longer had. Such a change is never lost without it (the
// writer merges onto the row in the database, not the cache), but Online,
// OnlineDevices and ByAddress show it only after the session's next
// record or a Refresh. ErrUnknownSession when there is no such session.
func (s *Store) Refresh(ctx context.Context, id int64) error {
	o := s.newOp(opRefresh)
	o.id = id
	_, err := s.do(ctx, o)
	return err
}

// newOp returns an op of kind, from the Store's free ones when it can.
func (s *Store) newOp(kind opKind) *op {
	o := s.ops.Get().(*op)
	o.kind = kind
	return o
}

// do hands o (from newOp) to the writer and waits for its transaction.
// Once the writer has answered, o is free again; when ctx ends first the
// writer still has it, and it is left to the garbage collector.
func (s *Store) do(ctx context.Context, o *op) (opResult, error) {
	if err := ctx.Err(); err != nil {
		return opResult{}, err
	}
	s.sendMu.RLock()
	if s.closed {
		s.sendMu.RUnlock()
		return opResult{}, ErrClosed
	}
	select {
	case s.queue <- o:
		s.sendMu.RUnlock()
	case <-ctx.Done():
		s.sendMu.RUnlock()
		return opResult{}, ctx.Err()
	}
	select {
	case res := <-o.done:
		*o = op{done: o.done}
		s.ops.Put(o)
		return res, res.err
	case <-ctx.Done():
		return opResult{}, ctx.Err()
	}
}

// Get returns the session with the given id from the database
// (ErrUnknownSession).
func (s *Store) Get(ctx context.Context, id int64) (Session, error) {
	sess, err := scanSession(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("%w (id %d)", ErrUnknownSession, id)
	}
	if err != nil {
		return Session{}, err
	}
	s.setStale(&sess, s.now())
	return sess, nil
}

// List returns the sessions f selects from the database, the authority
// (Online answers from memory), ordered by start time then id.
func (s *Store) List(ctx context.Context, f Filter) ([]Session, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("sessions: list: negative limit %d", f.Limit)
	}
	q := `SELECT ` + columns + ` FROM sessions WHERE 1 = 1`
	var args []any
	if !f.All {
		q += ` AND stopped_at IS NULL`
	}
	if f.StayID != 0 {
		q += ` AND stay_id = ?`
		args = append(args, f.StayID)
	}
	if f.DeviceID != 0 {
		q += ` AND device_id = ?`
		args = append(args, f.DeviceID)
	}
	if f.NAS != "" {
		q += ` AND nas = ?`
		args = append(args, f.NAS)
	}
	q += ` ORDER BY started_at, id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sessions: list: %w", err)
	}
	defer rows.Close()
	now := s.now()
	var out []Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		s.setStale(&sess, now)
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sessions: list: %w", err)
	}
	return out, nil
}

// StayUsage sums what the stay's sessions, open and closed, used; Online
// counts the open ones (stale or not). The sums are done here, not in SQL,
// so that they saturate rather than fail on a NAS's absurd counter.
func (s *Store) StayUsage(ctx context.Context, stayID int64) (Usage, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT stopped_at, session_time, input_octets, output_octets, input_packets, output_packets
		 FROM sessions WHERE stay_id = ?`, stayID)
	if err != nil {
		return Usage{}, fmt.Errorf("sessions: usage of stay %d: %w", stayID, err)
	}
	defer rows.Close()
	var u Usage
	for rows.Next() {
		var stopped sql.NullInt64
		var secs, in, out, inPkts, outPkts int64
		if err := rows.Scan(&stopped, &secs, &in, &out, &inPkts, &outPkts); err != nil {
			return Usage{}, fmt.Errorf("sessions: usage of stay %d: %w", stayID, err)
		}
		u.Sessions++
		if !stopped.Valid {
			u.Online++
		}
		u.TimeOnline = time.Duration(addSat(uint64(u.TimeOnline), uint64(secs), math.MaxInt64))
		u.InputOctets = addSat(u.InputOctets, uint64(in), math.MaxUint64)
		u.OutputOctets = addSat(u.OutputOctets, uint64(out), math.MaxUint64)
		u.InputPackets = addSat(u.InputPackets, uint64(inPkts), math.MaxUint64)
		u.OutputPackets = addSat(u.OutputPackets, uint64(outPkts), math.MaxUint64)
	}
	if err := rows.Err(); err != nil {
		return Usage{}, fmt.Errorf("sessions: usage of stay %d: %w", stayID, err)
	}
	return u, nil
}

// addSat is a+b, or limit when that is more.
func addSat(a, b, limit uint64) uint64 {
	if a > limit-b || b > limit {
		return limit
	}
	return a + b
}

// setStale fills in sess.Stale as of now.
func (s *Store) setStale(sess *Session, now time.Time) {
	sess.Stale = sess.Open() && now.Sub(sess.UpdatedAt) > s.staleAfter
}
