package radiusd

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"keycard/internal/secretbox"
	"keycard/internal/store"
	"keycard/vouchers"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// schema is radiusd's tables ("radiusd" in schema_versions).
var schema = store.NewSchema("radiusd", migrationFiles)

// Migrate creates or updates radiusd's tables.
func Migrate(ctx context.Context, db *sql.DB) error { return schema.Migrate(ctx, db) }

// Check reports whether radiusd's tables match this binary
// (store.ErrBehind or store.ErrAhead, wrapped, when they do not).
func Check(ctx context.Context, db *sql.DB) error { return schema.Check(ctx, db) }

// An Auditor records who changed what, in the caller's transaction so that
// a change and its audit entry commit together; *vouchers.Store is one.
type Auditor interface {
	AuditTx(ctx context.Context, tx *sql.Tx, by vouchers.Actor, action, subject, detail string) error
}

// NASStore keeps the NAS clients in the database and a snapshot of them in
// memory, so Lookup on the request path never touches the database. Add and
// Remove refresh the snapshot; changes made by another process (the keycard
// CLI) are picked up by Reload or Watch. It is safe for concurrent use.
type NASStore struct {
	db     *sql.DB
	box    *secretbox.Box
	audit  Auditor
	now    func() time.Time
	rand   io.Reader
	logger atomic.Pointer[slog.Logger]

	reloadMu sync.Mutex // one Reload at a time
	snap     atomic.Pointer[nasSnapshot]
}

// nasSnapshot is an immutable view of the NAS table: lookups go from the
// longest prefix length down, one map probe each.
type nasSnapshot struct {
	lengths  []int // distinct prefix lengths, longest first
	byPrefix map[netip.Prefix]NAS
	optOut   int      // NAS entries that do not require Message-Authenticator
	marker   [2]int64 // row count and highest id when loaded
}

// NewNASStore returns a store over db (migrated with Migrate), sealing
// secrets with box and recording every change with audit. Call Reload before
// the first Lookup.
func NewNASStore(db *sql.DB, box *secretbox.Box, audit Auditor) *NASStore {
	s := &NASStore{db: db, box: box, audit: audit, now: time.Now, rand: rand.Reader}
	s.snap.Store(&nasSnapshot{byPrefix: map[netip.Prefix]NAS{}})
	return s
}

// SetLogger sets where Reload reports NAS clients that do not require
// Message-Authenticator. New does this with Deps.Logger.
func (s *NASStore) SetLogger(l *slog.Logger) { s.logger.Store(l) }

func (s *NASStore) log() *slog.Logger {
	if l := s.logger.Load(); l != nil {
		return l
	}
	return slog.Default()
}

func sealContext(name string) string { return "nas:" + name }

// inTx runs fn in one transaction, committing when it returns nil.
func (s *NASStore) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Add stores a new NAS. When n.Secret is empty a random secret of
// GeneratedSecretLength printable characters is generated; the returned NAS
// carries the secret, which the caller shows once. A NAS with the same name
// or the identical network gives ErrDuplicateNAS.
func (s *NASStore) Add(ctx context.Context, by vouchers.Actor, n NAS) (NAS, error) {
	if s.audit == nil {
		return NAS{}, errors.New("radiusd: NAS store has no auditor")
	}
	if err := n.validate(); err != nil {
		return NAS{}, err
	}
	if len(n.Secret) == 0 {
		secret, err := generateSecret(s.rand, GeneratedSecretLength)
		if err != nil {
			return NAS{}, err
		}
		n.Secret = secret
	}
	sealed, err := s.box.Seal(sealContext(n.Name), n.Secret)
	if err != nil {
		return NAS{}, fmt.Errorf("radiusd: seal secret of NAS %s: %w", n.Name, err)
	}
	n.CreatedAt = s.now().UTC().Truncate(time.Second)

	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var dup int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM nas WHERE name = ? OR network = ?`,
			n.Name, n.Network.String()).Scan(&dup)
		if err != nil {
			return err
		}
		if dup > 0 {
			return fmt.Errorf("%w: %s or %s", ErrDuplicateNAS, n.Name, n.Network)
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO nas (name, network, secret_sealed, das_port, require_message_authenticator, created_at,
			                  das_address, profile, coa, coa_port)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			n.Name, n.Network.String(), sealed, n.DASPort, !n.AllowMissingMessageAuthenticator, n.CreatedAt.Format(time.RFC3339),
			dasAddressColumn(n.DASAddress), n.Profile, n.CoA, n.CoAPort)
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				return fmt.Errorf("%w: %s or %s", ErrDuplicateNAS, n.Name, n.Network)
			}
			return err
		}
		if n.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return s.audit.AuditTx(ctx, tx, by, "nas.add", "nas:"+n.Name, auditDetail(n))
	})
	if errors.Is(err, ErrDuplicateNAS) {
		return NAS{}, err
	}
	if err != nil {
		return NAS{}, fmt.Errorf("radiusd: add NAS %s: %w", n.Name, err)
	}
	if n.AllowMissingMessageAuthenticator {
		s.log().Warn("radiusd: NAS added WITHOUT requiring Message-Authenticator; it is exposed to BlastRADIUS (CVE-2024-3596) forgeries",
			"nas", n.Name, "network", n.Network.String())
	}
	if err := s.Reload(ctx); err != nil {
		return n, err
	}
	return n, nil
}

func auditDetail(n NAS) string {
	ma := "message-authenticator required"
	if n.AllowMissingMessageAuthenticator {
		ma = "message-authenticator NOT required"
	}
	das := "accounting source"
	if n.DASAddress.IsValid() {
		das = n.DASAddress.String()
	}
	coa := "coa off"
	if n.CoA {
		coa = "coa on"
		if n.CoAPort != 0 {
			coa = fmt.Sprintf("coa on port %d", n.CoAPort)
		}
	}
	return fmt.Sprintf("%s das %d %s das-address %s profile %s %s", n.Network, n.DASPort, ma, das, n.Profile, coa)
}

// dasAddressColumn stores a DAS address: the empty string for the zero
// Addr (the accounting source).
func dasAddressColumn(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// Remove deletes the NAS called name (ErrUnknownNAS when there is none).
func (s *NASStore) Remove(ctx context.Context, by vouchers.Actor, name string) error {
	if s.audit == nil {
		return errors.New("radiusd: NAS store has no auditor")
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var network string
		err := tx.QueryRowContext(ctx, `SELECT network FROM nas WHERE name = ?`, name).Scan(&network)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %q", ErrUnknownNAS, name)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM nas WHERE name = ?`, name); err != nil {
			return err
		}
		return s.audit.AuditTx(ctx, tx, by, "nas.remove", "nas:"+name, network)
	})
	if errors.Is(err, ErrUnknownNAS) {
		return err
	}
	if err != nil {
		return fmt.Errorf("radiusd: remove NAS %s: %w", name, err)
	}
	return s.Reload(ctx)
}

// List returns every NAS ordered by name, without secrets.
func (s *NASStore) List(ctx context.Context) ([]NAS, error) {
	all, err := s.load(ctx, false)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b NAS) int { return strings.Compare(a.Name, b.Name) })
	return all, nil
}

// load reads the table; with secrets, each secret is opened.
func (s *NASStore) load(ctx context.Context, secrets bool) ([]NAS, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, name, network, secret_sealed, das_port, require_message_authenticator, created_at,
		        das_address, profile, coa, coa_port
		   FROM nas ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("radiusd: list NAS: %w", err)
	}
	defer rows.Close()
	var out []NAS
	for rows.Next() {
		var (
			n               NAS
			network, sealed string
			created         string
			require         bool
			dasAddress      string
		)
		if err := rows.Scan(&n.ID, &n.Name, &network, &sealed, &n.DASPort, &require, &created,
			&dasAddress, &n.Profile, &n.CoA, &n.CoAPort); err != nil {
			return nil, fmt.Errorf("radiusd: list NAS: %w", err)
		}
		n.AllowMissingMessageAuthenticator = !require
		if dasAddress != "" {
			if n.DASAddress, err = netip.ParseAddr(dasAddress); err != nil {
				return nil, fmt.Errorf("radiusd: NAS %s: stored DAS address %q: %w", n.Name, dasAddress, err)
			}
		}
		if n.Network, err = netip.ParsePrefix(network); err != nil {
			return nil, fmt.Errorf("radiusd: NAS %s: stored network %q: %w", n.Name, network, err)
		}
		if n.CreatedAt, err = time.Parse(time.RFC3339, created); err != nil {
			return nil, fmt.Errorf("radiusd: NAS %s: stored time %q: %w", n.Name, created, err)
		}
		if secrets {
			if n.Secret, err = s.box.Open(sealContext(n.Name), sealed); err != nil {
				return nil, fmt.Errorf("radiusd: NAS %s: %w", n.Name, err)
			}
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("radiusd: list NAS: %w", err)
	}
	return out, nil
}

// Reload rebuilds the in-memory snapshot from the database, logging a
// warning for every NAS that does not require Message-Authenticator.
func (s *NASStore) Reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	marker, err := s.marker(ctx)
	if err != nil {
		return err
	}
	all, err := s.load(ctx, true)
	if err != nil {
		return err
	}
	snap := &nasSnapshot{byPrefix: make(map[netip.Prefix]NAS, len(all)), marker: marker}
	for _, n := range all {
		snap.byPrefix[n.Network] = n
		if !slices.Contains(snap.lengths, n.Network.Bits()) {
			snap.lengths = append(snap.lengths, n.Network.Bits())
		}
		if _, err := ProfileByName(n.Profile); err != nil {
			s.log().Warn("radiusd: NAS has an unknown DAS profile; Disconnect and CoA to it will fail",
				"nas", n.Name, "profile", n.Profile, "known", strings.Join(Profiles(), ", "))
		}
		if n.AllowMissingMessageAuthenticator {
			snap.optOut++
			s.log().Warn("radiusd: NAS does NOT require Message-Authenticator; forged replies (BlastRADIUS, CVE-2024-3596) are possible until it does",
				"nas", n.Name, "network", n.Network.String())
		}
	}
	slices.SortFunc(snap.lengths, func(a, b int) int { return b - a })
	s.snap.Store(snap)
	return nil
}

// marker identifies the table's content cheaply: ids are never reused
// (AUTOINCREMENT) and rows are never updated, so any add or remove changes
// the row count or the highest id.
func (s *NASStore) marker(ctx context.Context) ([2]int64, error) {
	var m [2]int64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(id), 0) FROM nas`).Scan(&m[0], &m[1])
	if err != nil {
		return m, fmt.Errorf("radiusd: read NAS table: %w", err)
	}
	return m, nil
}

// Watch reloads the snapshot whenever another process changed the NAS
// table, checking every interval until ctx ends. Errors are logged, not
// fatal: the last good snapshot stays in use.
func (s *NASStore) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.reloadIfChanged(ctx); err != nil && ctx.Err() == nil {
			s.log().Error("radiusd: reload NAS clients", "err", err)
		}
	}
}

// reloadIfChanged reloads when the table's marker moved.
func (s *NASStore) reloadIfChanged(ctx context.Context) (bool, error) {
	m, err := s.marker(ctx)
	if err != nil {
		return false, err
	}
	if m == s.snap.Load().marker {
		return false, nil
	}
	return true, s.Reload(ctx)
}

// Lookup returns the NAS whose network holds ip, the most specific one when
// networks nest. It reads only the in-memory snapshot.
func (s *NASStore) Lookup(ip netip.Addr) (NAS, bool) {
	return s.snap.Load().lookup(ip)
}

// MessageAuthenticatorOptOuts is how many NAS clients do not require
// Message-Authenticator (exported as a metric).
func (s *NASStore) MessageAuthenticatorOptOuts() int { return s.snap.Load().optOut }

func (snap *nasSnapshot) lookup(ip netip.Addr) (NAS, bool) {
	ip = ip.Unmap().WithZone("")
	for _, bits := range snap.lengths {
		p, err := ip.Prefix(bits)
		if err != nil {
			continue // an IPv6 length for an IPv4 address
		}
		if n, ok := snap.byPrefix[p]; ok {
			return n, true
		}
	}
	return NAS{}, false
}
