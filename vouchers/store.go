package vouchers

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"keycard/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// schema is this package's tables ("vouchers" in schema_versions).
var schema = store.NewSchema("vouchers", migrationFiles)

// Migrate creates or upgrades the vouchers tables.
func Migrate(ctx context.Context, db *sql.DB) error { return schema.Migrate(ctx, db) }

// Check reports whether the vouchers tables match this binary
// (store.ErrBehind / store.ErrAhead, wrapped, when they do not).
func Check(ctx context.Context, db *sql.DB) error { return schema.Check(ctx, db) }

// Actor is who made a change and from where, as written to the audit log.
type Actor struct {
	Name   string // "staff:alice", "admin", "guest", "system"
	Source string // "cli", "10.0.0.5", "pms"
}

// Policy is what a stay's devices get on the network.
type Policy struct {
	Name              string
	VLAN              int
	BandwidthUpKbps   int
	BandwidthDownKbps int
	// MaxOnline caps the stay's devices online at once (0: no cap beyond
	// MaxDevices); radiusd counts devices, not sessions.
	MaxOnline int
	// DisconnectOldest lets a device over MaxOnline in and disconnects the
	// stay's longest-online device instead of refusing the new one.
	DisconnectOldest bool
}

// CertificateRequest asks the Issuer for a device certificate.
type CertificateRequest struct {
	PublicKey  crypto.PublicKey // the device's key (from a CSR whose signature was checked, or sent directly)
	CommonName string           // "device-<id>"
	URIs       []*url.URL       // urn:keycard:device:<id>
	NotAfter   time.Time        // the stay's check-out
}

// Issuer signs device certificates. cmd adapts *ca.Authority to it; this
// package does not import ca.
type Issuer interface {
	IssueDeviceCertificate(ctx context.Context, req CertificateRequest) (*x509.Certificate, error)
}

// Options configure a Store. Only the database is required to read and
// change stays; Issuer is needed to enrol devices and Roots to authorize
// certificates (without Roots every certificate is refused as "wrong CA":
// the system roots are never used).
type Options struct {
	Policies      map[string]Policy // by name; a stay's policy must be one of these
	Issuer        Issuer
	Roots         *x509.CertPool
	Intermediates *x509.CertPool
	// MaxFailedTries wrong codes lock a voucher (default 10).
	MaxFailedTries int
	// CodeGroups is the number of 4-character groups in a voucher code,
	// the first of them the public selector (default 3, range 3..8).
	CodeGroups int
	Now        func() time.Time // default time.Now
	Rand       io.Reader        // default crypto/rand.Reader
	Logger     *slog.Logger     // default discards
}

// Defaults for Options.
const (
	DefaultMaxFailedTries = 10
	DefaultCodeGroups     = 3
)

// Store is the hotel's stays, vouchers, devices and audit log in one
// database. It is safe for concurrent use.
type Store struct {
	db       *sql.DB
	policies map[string]Policy
	issuer   Issuer
	roots    *x509.CertPool
	inters   *x509.CertPool
	maxTries int
	groups   int
	kdf      kdfParams
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger

	chains         *verifiedChains
	authorizeQuery preparedQuery
}

// New returns a Store on db, whose tables Migrate has created.
func New(db *sql.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("vouchers: no database")
	}
	s := &Store{
		db:       db,
		policies: make(map[string]Policy, len(opts.Policies)),
		issuer:   opts.Issuer,
		roots:    opts.Roots,
		inters:   opts.Intermediates,
		maxTries: opts.MaxFailedTries,
		groups:   opts.CodeGroups,
		kdf:      defaultKDF,
		now:      opts.Now,
		rand:     opts.Rand,
		log:      opts.Logger,
		chains:   newVerifiedChains(),
		// The device and its stay, and how many of the stay's devices
		// enrolled before it hold a place under the cap: not revoked, and
		// with a certificate either unexpired or kept working past its
		// NotAfter by an extended stay (the stay's check-out later than
		// it; see Authorize). enrol counts the same way.
		authorizeQuery: preparedQuery{query: `SELECT ` + deviceColumns + `, ` + stayColumns + `,
		   (SELECT COUNT(*) FROM devices p WHERE p.stay_id = d.stay_id AND p.revoked_at IS NULL
		      AND (p.not_after > ? OR s.check_out > p.not_after) AND p.id < d.id)
		 FROM devices d JOIN stays s ON s.id = d.stay_id
		 WHERE d.serial = ?`},
	}
	for name, p := range opts.Policies {
		if name == "" {
			return nil, errors.New("vouchers: a policy has no name")
		}
		p.Name = name
		s.policies[name] = p
	}
	switch {
	case s.maxTries == 0:
		s.maxTries = DefaultMaxFailedTries
	case s.maxTries < 1 || s.maxTries > 1000:
		return nil, fmt.Errorf("vouchers: MaxFailedTries %d is out of range; use 1..1000", opts.MaxFailedTries)
	}
	switch {
	case s.groups == 0:
		s.groups = DefaultCodeGroups
	case s.groups < minCodeGroups || s.groups > maxCodeGroups:
		return nil, fmt.Errorf("vouchers: CodeGroups %d is out of range; use %d..%d (the first group is public, the rest is the secret)",
			opts.CodeGroups, minCodeGroups, maxCodeGroups)
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
	return s, nil
}

// Policy returns the named policy as configured.
func (s *Store) Policy(name string) (Policy, bool) {
	p, ok := s.policies[name]
	return p, ok
}

// Close releases the prepared statements. The database stays open: it
// belongs to the caller.
func (s *Store) Close() error {
	return s.authorizeQuery.close()
}

// preparedQuery is a statement on the per-authentication path, prepared
// once on first use (parsing the SQL each time showed in profiles).
type preparedQuery struct {
	query string
	mu    sync.Mutex
	stmt  *sql.Stmt
}

func (q *preparedQuery) row(ctx context.Context, db *sql.DB, args ...any) *sql.Row {
	q.mu.Lock()
	stmt := q.stmt
	if stmt == nil {
		var err error
		if stmt, err = db.PrepareContext(ctx, q.query); err != nil {
			q.mu.Unlock()
			// The error (a missing table, a closed database) surfaces
			// from the plain query.
			return db.QueryRowContext(ctx, q.query, args...)
		}
		q.stmt = stmt
	}
	q.mu.Unlock()
	return stmt.QueryRowContext(ctx, args...)
}

func (q *preparedQuery) close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stmt == nil {
		return nil
	}
	err := q.stmt.Close()
	q.stmt = nil
	return err
}

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("vouchers: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("vouchers: commit: %w", err)
	}
	return nil
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

func checkActor(by Actor) error {
	if by.Name == "" {
		return invalidf("who made the change is required for the audit log (Actor.Name is empty)")
	}
	return nil
}
