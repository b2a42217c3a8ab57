package api

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"keycard/internal/store"
	"keycard/sessions"
	"keycard/staff"
	"keycard/vouchers"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// schema is this package's table ("api" in schema_versions).
var schema = store.NewSchema("api", migrationFiles)

// Migrate creates or upgrades the API's idempotency table.
func Migrate(ctx context.Context, db *sql.DB) error { return schema.Migrate(ctx, db) }

// Check reports whether the API's table matches this binary
// (store.ErrBehind / store.ErrAhead, wrapped, when it does not).
func Check(ctx context.Context, db *sql.DB) error { return schema.Check(ctx, db) }

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 description of the API (openapi.yaml).
func OpenAPI() []byte { return slices.Clone(openAPI) }

// Prefix is where the API lives; New's handler serves full paths under it.
const Prefix = "/api/v1"

// Tokens finds the API token a request carries; *staff.Store is one.
type Tokens interface {
	TokenByBearer(ctx context.Context, bearer string) (staff.Token, error)
}

// Hotel is the part of *vouchers.Store the API uses.
type Hotel interface {
	CreateStayExternal(ctx context.Context, by vouchers.Actor, req vouchers.NewStay, externalID string) (vouchers.Stay, string, error)
	Stay(ctx context.Context, id int64) (vouchers.Stay, error)
	StayByExternalID(ctx context.Context, externalID string) (vouchers.Stay, error)
	ExternalID(ctx context.Context, stayID int64) (string, error)
	ListStays(ctx context.Context, f vouchers.StayFilter) ([]vouchers.Stay, error)
	ExtendStay(ctx context.Context, by vouchers.Actor, id int64, checkOut time.Time) (vouchers.Stay, error)
	EndStay(ctx context.Context, by vouchers.Actor, id int64) (vouchers.Stay, error)
	ReissueVoucher(ctx context.Context, by vouchers.Actor, stayID int64) (string, error)
	Devices(ctx context.Context, stayID int64) ([]vouchers.Device, error)
	RevokeDevice(ctx context.Context, by vouchers.Actor, id int64, reason string) (vouchers.Device, error)
	Audit(ctx context.Context, by vouchers.Actor, action, subject, detail string) error
}

// Sessions is the part of *sessions.Store the API uses.
type Sessions interface {
	List(ctx context.Context, f sessions.Filter) ([]sessions.Session, error)
	Get(ctx context.Context, id int64) (sessions.Session, error)
	StayUsage(ctx context.Context, stayID int64) (sessions.Usage, error)
}

// KickResult is how a disconnect ended (radiusd.DASResult, without this
// package importing radiusd).
type KickResult struct {
	Outcome    string // "ack", "nak", "not_found", "no_answer", "error"
	ErrorCause int
	Attempts   int
}

// Kicker asks a session's access point to drop it. cmd adapts serve's
// *radiusd.Enforcer with KickerFunc:
//
//	api.KickerFunc(func(ctx context.Context, s sessions.Session, reason string) (api.KickResult, error) {
//		res, err := enforcer.Kick(ctx, s, reason)
//		return api.KickResult{Outcome: string(res.Outcome), ErrorCause: res.ErrorCause, Attempts: res.Attempts}, err
//	})
type Kicker interface {
	Kick(ctx context.Context, sess sessions.Session, reason string) (KickResult, error)
}

// KickerFunc is a function that is a Kicker.
type KickerFunc func(ctx context.Context, sess sessions.Session, reason string) (KickResult, error)

// Kick calls f.
func (f KickerFunc) Kick(ctx context.Context, sess sessions.Session, reason string) (KickResult, error) {
	return f(ctx, sess, reason)
}

// KickReason is the reason the API gives the Kicker (a metric label, so
// one fixed value; the caller's reason goes to the audit log).
const KickReason = "kicked by the PMS"

// Options configure the API. Tokens, Hotel, Sessions, Kicker and DB are
// required.
type Options struct {
	Tokens   Tokens
	Hotel    Hotel
	Sessions Sessions
	Kicker   Kicker
	DB       *sql.DB // holds the idempotency table (Migrate)
	// DefaultPolicy and DefaultMaxDevices are a new stay's when the
	// request names none (defaults "standard" and 4, as the CLI's).
	DefaultPolicy     string
	DefaultMaxDevices int
	Now               func() time.Time // default time.Now
	Logger            *slog.Logger     // default discards
}

// Defaults for Options.
const (
	DefaultPolicy     = "standard"
	DefaultMaxDevices = 4
	// IdempotencyTTL is how long an Idempotency-Key's answer is kept.
	IdempotencyTTL = 24 * time.Hour
	// abandonedAfter: a key whose first request has not finished after
	// this long (its process died) may be used again.
	abandonedAfter = time.Minute
	maxBody        = 64 << 10
)

// handler is the API: the route table behind an http.ServeMux.
type handler struct {
	tokens   Tokens
	hotel    Hotel
	sessions Sessions
	kicker   Kicker
	db       *sql.DB
	policy   string
	devices  int
	now      func() time.Time
	log      *slog.Logger
	mux      *http.ServeMux
}

// New returns the API handler. It serves the full paths under Prefix
// (/api/v1/...): mount it at Prefix+"/" as it is, without StripPrefix.
func New(opts Options) (http.Handler, error) {
	switch {
	case opts.Tokens == nil:
		return nil, errors.New("api: no token store")
	case opts.Hotel == nil:
		return nil, errors.New("api: no vouchers store")
	case opts.Sessions == nil:
		return nil, errors.New("api: no sessions store")
	case opts.Kicker == nil:
		return nil, errors.New("api: no kicker (serve's enforcer)")
	case opts.DB == nil:
		return nil, errors.New("api: no database (for the idempotency table)")
	case opts.DefaultMaxDevices < 0 || opts.DefaultMaxDevices > vouchers.MaxDevicesLimit:
		return nil, fmt.Errorf("api: DefaultMaxDevices %d is out of range; use 1..%d", opts.DefaultMaxDevices, vouchers.MaxDevicesLimit)
	}
	h := &handler{
		tokens: opts.Tokens, hotel: opts.Hotel, sessions: opts.Sessions, kicker: opts.Kicker, db: opts.DB,
		policy: opts.DefaultPolicy, devices: opts.DefaultMaxDevices, now: opts.Now, log: opts.Logger,
		mux: http.NewServeMux(),
	}
	if h.policy == "" {
		h.policy = DefaultPolicy
	}
	if h.devices == 0 {
		h.devices = DefaultMaxDevices
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	methods := map[string][]string{}
	for _, rt := range routes {
		h.mux.Handle(rt.Method+" "+rt.Path, h.serve(rt))
		methods[rt.Path] = append(methods[rt.Path], rt.Method)
	}
	// A known path with another method is 405, anything else 404, both as
	// problems (ServeMux's own answers are plain text).
	for path, ms := range methods {
		allow := strings.Join(ms, ", ")
		h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if refuseTokenInURL(h.log, w, r) {
				return
			}
			w.Header().Set("Allow", allow)
			writeProblem(w, kindMethod.problem(fmt.Sprintf("%s is not allowed here; use %s", r.Method, allow)))
		})
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if refuseTokenInURL(h.log, w, r) {
			return
		}
		writeProblem(w, kindNotFound.problem("no such API route; see "+Prefix+"/openapi.yaml"))
	})
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// audited says who writes a successful call's audit row.
type audited int

const (
	auditCall   audited = iota // "api.call", written here
	auditDomain                // the domain change (stay.create, ...)
	auditKick                  // "session.kick", written by the handler
	auditNone                  // public: not audited
)

// route is one API route. Path is as in openapi.yaml.
type route struct {
	Method string
	Path   string
	Scope  staff.Scope // "" for a public route
	audit  audited
	handle func(h *handler, c *call) (*reply, error)
	// replay, when set, turns a stored answer into the answer to a retry
	// (a create reissues the voucher code it did not store).
	replay func(h *handler, c *call, stored *reply) (*reply, error)
}

// routes is every API route: New registers them, openapi.yaml documents
// them, and the tests check that the two agree both ways.
var routes = []route{
	{Method: "GET", Path: Prefix + "/openapi.yaml", audit: auditNone, handle: (*handler).openAPIDoc},
	{Method: "POST", Path: Prefix + "/stays", Scope: staff.ScopeStays, audit: auditDomain, handle: (*handler).createStay, replay: (*handler).replayCreate},
	{Method: "GET", Path: Prefix + "/stays", Scope: staff.ScopeRead, handle: (*handler).listStays},
	{Method: "GET", Path: Prefix + "/stays/{id}", Scope: staff.ScopeRead, handle: (*handler).getStay},
	{Method: "POST", Path: Prefix + "/stays/{id}/extend", Scope: staff.ScopeStays, audit: auditDomain, handle: (*handler).extendStay},
	{Method: "POST", Path: Prefix + "/stays/{id}/end", Scope: staff.ScopeStays, audit: auditDomain, handle: (*handler).endStay},
	{Method: "GET", Path: Prefix + "/stays/{id}/devices", Scope: staff.ScopeRead, handle: (*handler).stayDevices},
	{Method: "POST", Path: Prefix + "/devices/{id}/revoke", Scope: staff.ScopeDevices, audit: auditDomain, handle: (*handler).revokeDevice},
	{Method: "GET", Path: Prefix + "/sessions", Scope: staff.ScopeRead, handle: (*handler).listSessions},
	{Method: "POST", Path: Prefix + "/sessions/{id}/kick", Scope: staff.ScopeSessions, audit: auditKick, handle: (*handler).kickSession},
}

// Routes returns "METHOD /path" of every route, as documented.
func Routes() []string {
	out := make([]string, len(routes))
	for i, rt := range routes {
		out[i] = rt.Method + " " + rt.Path
	}
	return out
}
