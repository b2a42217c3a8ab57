package main

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"keycard/ca"
	"keycard/configs"
	"keycard/internal/secretbox"
	"keycard/internal/store"
	"keycard/portal/api"
	"keycard/radiusd"
	"keycard/sessions"
	"keycard/staff"
	"keycard/vouchers"
	"keycard/webhooks"
)

// env is what one command invocation has open: the config, the database and,
// on demand, the CA and the stores built on them. Close releases it all.
type env struct {
	cfg        *configs.Config
	configPath string
	db         *sql.DB
	now        func() time.Time
	log        *slog.Logger
	out        io.Writer
	json       bool
	by         vouchers.Actor

	authority *ca.Authority
	box       *secretbox.Box
	plain     *vouchers.Store // without the CA: stays, vouchers, audit
	withCA    *vouchers.Store // with the CA: also enrolment and Authorize
	online    *sessions.Store // accounting sessions
}

// owners are the packages that own tables, in migration order.
var owners = []struct {
	name    string
	migrate func(context.Context, *sql.DB) error
	check   func(context.Context, *sql.DB) error
}{
	{"vouchers", vouchers.Migrate, vouchers.Check},
	{"radiusd", radiusd.Migrate, radiusd.Check},
	{"secretbox", secretbox.Migrate, secretbox.Check},
	{"sessions", sessions.Migrate, sessions.Check},
	{"staff", staff.Migrate, staff.Check},
	{"webhooks", webhooks.Migrate, webhooks.Check},
	{"api", api.Migrate, api.Check},
}

// openEnv loads the config and opens the database. With migrate set it
// brings the schema up to date (serve, ca init); otherwise it refuses a
// schema that is behind, naming the command that fixes it.
func openEnv(c *cli.Context, migrate bool) (*env, error) {
	path := c.String("config")
	if path == "" {
		return nil, errors.New("no config file: pass --config FILE or set KEYCARD_CONFIG (configs/keycard.dev.yaml for a try-out)")
	}
	cfg, err := configs.Load(path)
	if err != nil {
		return nil, err
	}
	e := &env{
		cfg:        cfg,
		configPath: path,
		now:        time.Now,
		out:        c.App.Writer,
		json:       c.Bool("json"),
		by:         vouchers.Actor{Name: actorName(c), Source: "cli"},
	}
	e.log = newLogger(cfg.Log, c.App.ErrWriter, commandLogLevel(c))
	if err := checkDatabaseExists(c, cfg, path); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", cfg.DataDir, err)
	}
	db, err := store.Open(c.Context, cfg.Database.Path)
	if err != nil {
		return nil, err
	}
	e.db = db
	for _, o := range owners {
		if migrate {
			err = o.migrate(c.Context, db)
		} else {
			err = o.check(c.Context, db)
			if errors.Is(err, store.ErrBehind) {
				if v, _ := store.Version(c.Context, db, o.name); v == 0 {
					// A brand-new database: set it up rather than send the
					// admin to another command first.
					err = o.migrate(c.Context, db)
				}
			}
		}
		if err != nil {
			db.Close()
			return nil, err
		}
	}
	return e, nil
}

// checkDatabaseExists refuses to create a database where none exists,
// unless the command sets Keycard up (ca init, db migrate, serve --demo):
// a mistyped --config must not quietly make an empty Keycard elsewhere,
// where the admin would see no stays and think them lost.
func checkDatabaseExists(c *cli.Context, cfg *configs.Config, configPath string) error {
	db := cfg.Database.Path
	if db == ":memory:" || mayCreateDatabase(c) {
		return nil
	}
	if _, err := os.Stat(db); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("database %s: %w", db, err)
	}
	return fmt.Errorf("no Keycard database at %s (from config %s): if this is the right config, set Keycard up first with `keycard --config %s ca init`; otherwise check --config or KEYCARD_CONFIG",
		db, configPath, configPath)
}

// mayCreateDatabase is true for the commands that set a Keycard up.
func mayCreateDatabase(c *cli.Context) bool {
	switch commandPath(c) {
	case "ca init", "db migrate":
		return true
	case "serve":
		return c.Bool("demo")
	}
	return false
}

// commandPath names the command being run, without the program: "ca init".
func commandPath(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" && ctx.Command.Name != c.App.Name {
			names = append(names, ctx.Command.Name)
		}
	}
	slices.Reverse(names)
	return strings.Join(names, " ")
}

// commandLogLevel is the least level an admin command logs at: serve logs
// as configured; another command prints its result once and logs only
// warnings and errors (the audit log records the change), unless
// --verbose asks for the structured lines too.
func commandLogLevel(c *cli.Context) slog.Level {
	if commandPath(c) == "serve" || c.Bool("verbose") {
		return slog.LevelDebug - 4 // no floor: the config decides
	}
	return slog.LevelWarn
}

func (e *env) Close() error {
	var errs []error
	if e.online != nil {
		errs = append(errs, e.online.Close())
	}
	for _, s := range []*vouchers.Store{e.plain, e.withCA} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if e.db != nil {
		errs = append(errs, e.db.Close())
	}
	return errors.Join(errs...)
}

// actorName is who the audit log says acted: the OS user, and the name
// given with --as (a front-desk tool acting for a member of staff) next to
// it rather than instead of it.
func actorName(c *cli.Context) string {
	osUser := "admin"
	if u, err := user.Current(); err == nil {
		osUser = "admin:" + u.Username
	}
	if as := c.String("as"); as != "" {
		return as + " (via " + osUser + ")"
	}
	return osUser
}

// passphrase reads the CA passphrase from the environment or file the config
// names; never from the YAML itself.
func (e *env) passphrase() ([]byte, error) {
	return e.cfg.CA.Passphrase()
}

// ca opens the CA, decrypting its keys.
func (e *env) ca(ctx context.Context) (*ca.Authority, error) {
	if e.authority != nil {
		return e.authority, nil
	}
	pass, err := e.passphrase()
	if err != nil {
		return nil, err
	}
	a, err := ca.Open(ctx, e.cfg.CA.Dir, pass)
	if err != nil {
		return nil, err
	}
	e.authority = a
	return a, nil
}

// secrets opens the box that seals NAS shared secrets.
func (e *env) secrets(ctx context.Context) (*secretbox.Box, error) {
	if e.box != nil {
		return e.box, nil
	}
	pass, err := e.passphrase()
	if err != nil {
		return nil, err
	}
	salt, err := secretbox.Salt(ctx, e.db)
	if err != nil {
		return nil, err
	}
	box, err := secretbox.New(pass, salt)
	if err != nil {
		return nil, err
	}
	e.box = box
	return box, nil
}

// policies turns the configured policies into the domain's.
func (e *env) policies() map[string]vouchers.Policy {
	out := make(map[string]vouchers.Policy, len(e.cfg.Policies))
	for name, p := range e.cfg.Policies {
		out[name] = vouchers.Policy{Name: name, VLAN: p.VLAN, BandwidthUpKbps: p.BandwidthUpKbps, BandwidthDownKbps: p.BandwidthDownKbps,
			MaxOnline: p.MaxOnline, DisconnectOldest: p.OverMaxOnline == configs.OverMaxOnlineDisconnectOldest}
	}
	return out
}

// vouchers builds the hotel domain store. withCA opens the CA too, for the
// commands that issue certificates or authorize them.
func (e *env) vouchers(ctx context.Context, withCA bool) (*vouchers.Store, error) {
	switch {
	case e.withCA != nil:
		return e.withCA, nil // does all a plain one does
	case e.plain != nil && !withCA:
		return e.plain, nil
	}
	opts := vouchers.Options{
		Policies:       e.policies(),
		MaxFailedTries: e.cfg.Vouchers.MaxFailedTries,
		CodeGroups:     e.cfg.Vouchers.CodeGroups,
		Now:            e.now,
		Logger:         e.log,
	}
	if withCA {
		a, err := e.ca(ctx)
		if err != nil {
			return nil, err
		}
		opts.Issuer = issuer{a}
		// Devices are checked against the issuing CA itself: it signs every
		// device certificate, so trusting it as the anchor accepts exactly
		// the same certificates as the full chain to the root while costing
		// one signature check instead of two on each new device.
		opts.Roots = x509.NewCertPool()
		opts.Roots.AddCert(a.Intermediate())
	}
	vs, err := vouchers.New(e.db, opts)
	if err != nil {
		return nil, err
	}
	if withCA {
		e.withCA = vs
	} else {
		e.plain = vs
	}
	return vs, nil
}

// sessions opens the accounting session store.
func (e *env) sessions(ctx context.Context) (*sessions.Store, error) {
	if e.online != nil {
		return e.online, nil
	}
	s, err := sessions.New(ctx, e.db, sessions.Options{
		CacheSize:       e.cfg.RADIUS.SessionCacheSize,
		InterimInterval: e.cfg.RADIUS.AcctInterimInterval.Duration,
		Now:             e.now,
		Logger:          e.log,
	})
	if err != nil {
		return nil, err
	}
	e.online = s
	return s, nil
}

// dasClient makes the RFC 5176 client that Disconnect and CoA go through.
func (e *env) dasClient(reg prometheus.Registerer) (*radiusd.DASClient, error) {
	return radiusd.NewDASClient(radiusd.DASOptions{
		Timeout:  e.cfg.RADIUS.DASTimeout.Duration,
		Retries:  dasRetries(e.cfg.RADIUS.DASRetries),
		Now:      e.now,
		Logger:   e.log,
		Registry: reg,
	})
}

// dasRetries maps the config's das_retries (0: send once) to radiusd's
// (0: its default, negative: send once).
func dasRetries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// audit records an admin action that no domain call records itself (CA and
// database operations).
func (e *env) audit(ctx context.Context, action, subject, detail string) error {
	vs, err := e.vouchers(ctx, false)
	if err != nil {
		return err
	}
	return vs.Audit(ctx, e.by, action, subject, detail)
}

// nas builds the NAS client store. Listing needs no secrets, and so no
// passphrase; anything that seals or opens them does (sealing).
func (e *env) nas(ctx context.Context, audit radiusd.Auditor, sealing bool) (*radiusd.NASStore, error) {
	var box *secretbox.Box
	if sealing {
		var err error
		if box, err = e.secrets(ctx); err != nil {
			return nil, err
		}
	}
	return radiusd.NewNASStore(e.db, box, audit), nil
}

// issuer adapts the CA to the domain's Issuer, so vouchers need not import
// ca: the domain decides what to sign, the CA signs it.
type issuer struct{ a *ca.Authority }

func (i issuer) IssueDeviceCertificate(ctx context.Context, req vouchers.CertificateRequest) (*x509.Certificate, error) {
	return i.a.IssueDevice(ctx, ca.DeviceRequest{
		PublicKey:  req.PublicKey,
		CommonName: req.CommonName,
		URIs:       req.URIs,
		NotAfter:   req.NotAfter,
	})
}

func newLogger(cfg configs.LogConfig, w io.Writer, floor slog.Level) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	level = max(level, floor)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
