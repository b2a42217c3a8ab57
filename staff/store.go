package staff

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"keycard/internal/secretbox"
	"keycard/internal/store"
	"keycard/vouchers"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// schema is this package's tables ("staff" in schema_versions).
var schema = store.NewSchema("staff", migrationFiles)

// Migrate creates or upgrades the staff tables.
func Migrate(ctx context.Context, db *sql.DB) error { return schema.Migrate(ctx, db) }

// Check reports whether the staff tables match this binary
// (store.ErrBehind / store.ErrAhead, wrapped, when they do not).
func Check(ctx context.Context, db *sql.DB) error { return schema.Check(ctx, db) }

// An Auditor records who changed what, in the caller's transaction so that
// a change and its audit entry commit together; *vouchers.Store is one.
type Auditor interface {
	AuditTx(ctx context.Context, tx *sql.Tx, by vouchers.Actor, action, subject, detail string) error
}

// Options configure a Store. Audit is required; Box is needed for anything
// that touches a TOTP secret (login, enrolment), not for the admin's
// account commands.
type Options struct {
	Audit Auditor
	Box   *secretbox.Box
	// Issuer names Keycard in the authenticator app (default "Keycard"); a
	// hotel may put its own name.
	Issuer string
	// Password is the argon2id cost of new hashes (default
	// DefaultPasswordParams). Raising it rehashes each password at its
	// next login.
	Password PasswordParams

	// MaxFailedPasswords wrong passwords in a row lock the account
	// (default 5), whichever addresses they come from.
	MaxFailedPasswords int
	// MaxFailedCodes wrong TOTP or recovery codes in a row lock the
	// account (default 5).
	MaxFailedCodes int
	// AttemptDelay is the wait after the first wrong password or code; it
	// doubles with each further one (default 1s: 1s, 2s, 4s, 8s).
	AttemptDelay time.Duration
	// Lockout is how long the first lock lasts; each further lock before a
	// successful login lasts twice as long, up to MaxLockout (defaults 15
	// minutes and 24 hours).
	Lockout    time.Duration
	MaxLockout time.Duration

	// AddressMaxFailures failed logins from one client address (an IPv4
	// address or an IPv6 /64) within AddressWindow block that address for
	// AddressBlock, doubling with each further block, up to MaxLockout
	// (defaults 20, 15 minutes, 15 minutes). The block is in this
	// process's memory and does not touch the accounts.
	AddressMaxFailures int
	AddressWindow      time.Duration
	AddressBlock       time.Duration

	// IdleTimeout ends a session not used for this long (default 30
	// minutes); SessionLifetime ends it this long after login however busy
	// (default 12 hours, a shift); PendingLifetime is how long the second
	// step of a login (the code, or setting the app up) may take after the
	// password (default 10 minutes).
	IdleTimeout     time.Duration
	SessionLifetime time.Duration
	PendingLifetime time.Duration

	// Location is the time zone of "wait until 14:35" (default time.Local).
	Location *time.Location
	Now      func() time.Time // default time.Now
	Rand     io.Reader        // default crypto/rand.Reader
	Logger   *slog.Logger     // default discards
}

// Defaults for Options.
const (
	DefaultMaxFailedPasswords = 5
	DefaultMaxFailedCodes     = 5
	DefaultAttemptDelay       = time.Second
	DefaultLockout            = 15 * time.Minute
	DefaultMaxLockout         = 24 * time.Hour
	DefaultAddressMaxFailures = 20
	DefaultAddressWindow      = 15 * time.Minute
	DefaultAddressBlock       = 15 * time.Minute
	DefaultIdleTimeout        = 30 * time.Minute
	DefaultSessionLifetime    = 12 * time.Hour
	DefaultPendingLifetime    = 10 * time.Minute
	DefaultIssuer             = "Keycard"
)

// Store is the staff accounts, their login sessions and the API tokens in
// one database. It is safe for concurrent use.
type Store struct {
	db     *sql.DB
	audit  Auditor
	box    *secretbox.Box
	issuer string
	params PasswordParams

	maxPasswords, maxCodes  int
	delay, lockout, maxLock time.Duration
	idle, lifetime, pending time.Duration
	touchEvery              time.Duration

	addrs *addressLimiter
	loc   *time.Location
	now   func() time.Time
	rand  io.Reader
	log   *slog.Logger

	hashSlots chan struct{}
	dummyOnce sync.Once
	dummy     string
}

// New returns a Store on db, whose tables Migrate has created.
func New(db *sql.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("staff: no database")
	}
	if opts.Audit == nil {
		return nil, errors.New("staff: no auditor (every staff change is audited)")
	}
	s := &Store{
		db:           db,
		audit:        opts.Audit,
		box:          opts.Box,
		issuer:       orDefault(opts.Issuer, DefaultIssuer),
		params:       opts.Password,
		maxPasswords: orDefault(opts.MaxFailedPasswords, DefaultMaxFailedPasswords),
		maxCodes:     orDefault(opts.MaxFailedCodes, DefaultMaxFailedCodes),
		delay:        orDefault(opts.AttemptDelay, DefaultAttemptDelay),
		lockout:      orDefault(opts.Lockout, DefaultLockout),
		maxLock:      orDefault(opts.MaxLockout, DefaultMaxLockout),
		idle:         orDefault(opts.IdleTimeout, DefaultIdleTimeout),
		lifetime:     orDefault(opts.SessionLifetime, DefaultSessionLifetime),
		pending:      orDefault(opts.PendingLifetime, DefaultPendingLifetime),
		loc:          opts.Location,
		now:          opts.Now,
		rand:         opts.Rand,
		log:          opts.Logger,
		hashSlots:    make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
	}
	if s.params == (PasswordParams{}) {
		s.params = DefaultPasswordParams
	}
	if err := s.params.validate(); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"MaxFailedPasswords", s.maxPasswords}, {"MaxFailedCodes", s.maxCodes}} {
		if c.n < 1 || c.n > 100 {
			return nil, fmt.Errorf("staff: %s %d is out of range; use 1..100", c.name, c.n)
		}
	}
	for _, c := range []struct {
		name string
		d    time.Duration
	}{{"AttemptDelay", s.delay}, {"Lockout", s.lockout}, {"MaxLockout", s.maxLock},
		{"IdleTimeout", s.idle}, {"SessionLifetime", s.lifetime}, {"PendingLifetime", s.pending}} {
		if c.d < 0 {
			return nil, fmt.Errorf("staff: %s %v is negative", c.name, c.d)
		}
	}
	if s.maxLock < s.lockout {
		return nil, fmt.Errorf("staff: MaxLockout %v is shorter than Lockout %v", s.maxLock, s.lockout)
	}
	if s.idle > s.lifetime {
		return nil, fmt.Errorf("staff: IdleTimeout %v is longer than SessionLifetime %v", s.idle, s.lifetime)
	}
	// last_seen_at is written at most this often, so a busy desk does not
	// write on every page; the idle timeout errs early, never late.
	s.touchEvery = min(time.Minute, s.idle/20)
	if s.loc == nil {
		s.loc = time.Local
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	limits := addressLimits{
		maxFailures: orDefault(opts.AddressMaxFailures, DefaultAddressMaxFailures),
		window:      orDefault(opts.AddressWindow, DefaultAddressWindow),
		block:       orDefault(opts.AddressBlock, DefaultAddressBlock),
		maxBlock:    s.maxLock,
	}
	if limits.maxFailures < 1 || limits.window <= 0 || limits.block <= 0 {
		return nil, errors.New("staff: AddressMaxFailures, AddressWindow and AddressBlock must be positive")
	}
	s.addrs = newAddressLimiter(limits)
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("staff: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("staff: commit: %w", err)
	}
	return nil
}

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

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

func checkActor(by vouchers.Actor) error {
	if by.Name == "" {
		return invalidf("who made the change is required for the audit log (Actor.Name is empty)")
	}
	return nil
}

// staffActor is how the audit log names a member of staff acting for
// themselves.
func staffActor(name, client string) vouchers.Actor {
	return vouchers.Actor{Name: "staff:" + name, Source: sourceOf(client)}
}

func sourceOf(client string) string {
	if client == "" {
		return "unknown"
	}
	return client
}

func accountRef(name string) string { return "staff:" + name }
