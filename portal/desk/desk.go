package desk

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"keycard/portal/httpsec"
	"keycard/sessions"
	"keycard/staff"
	"keycard/vouchers"
)

// Staff is what the desk asks of the staff accounts; *staff.Store
// implements it.
type Staff interface {
	Login(ctx context.Context, name, password, client string) (staff.Pending, error)
	SecondFactor(ctx context.Context, pendingToken, code, client string) (staff.LoggedIn, error)
	BeginEnrolment(ctx context.Context, pendingToken string) (staff.Enrolment, error)
	ConfirmEnrolment(ctx context.Context, pendingToken, code, client string) (staff.LoggedIn, error)
	SessionByToken(ctx context.Context, token string, now time.Time) (staff.Session, staff.Account, error)
	EndSession(ctx context.Context, token, client string) error
	ChangePassword(ctx context.Context, sessionToken, current, code, newPassword, client string) (staff.LoggedIn, error)
	BeginTOTPChange(ctx context.Context, sessionToken, code, client string) (staff.Enrolment, error)
	ConfirmTOTPChange(ctx context.Context, sessionToken, code, client string) ([]string, error)
	NewRecoveryCodes(ctx context.Context, sessionToken, code, client string) ([]string, error)

	Accounts(ctx context.Context) ([]staff.Account, error)
	Add(ctx context.Context, by vouchers.Actor, a staff.NewAccount) (staff.Account, string, error)
	Disable(ctx context.Context, by vouchers.Actor, name string) (staff.Account, error)
	Enable(ctx context.Context, by vouchers.Actor, name string) (staff.Account, error)
	ResetPassword(ctx context.Context, by vouchers.Actor, name, password string) (string, error)
	ResetTOTP(ctx context.Context, by vouchers.Actor, name string) (staff.Account, error)
}

// Hotel is what the desk asks of the hotel's domain; *vouchers.Store
// implements it.
type Hotel interface {
	CreateStay(ctx context.Context, by vouchers.Actor, req vouchers.NewStay) (vouchers.Stay, string, error)
	ListStays(ctx context.Context, f vouchers.StayFilter) ([]vouchers.Stay, error)
	Stay(ctx context.Context, id int64) (vouchers.Stay, error)
	ExtendStay(ctx context.Context, by vouchers.Actor, id int64, checkOut time.Time) (vouchers.Stay, error)
	EndStay(ctx context.Context, by vouchers.Actor, id int64) (vouchers.Stay, error)
	ReissueVoucher(ctx context.Context, by vouchers.Actor, stayID int64) (string, error)
	Devices(ctx context.Context, stayID int64) ([]vouchers.Device, error)
	Device(ctx context.Context, id int64) (vouchers.Device, error)
	RevokeDevice(ctx context.Context, by vouchers.Actor, id int64, reason string) (vouchers.Device, error)
	AuditLog(ctx context.Context, limit int) ([]vouchers.AuditEntry, error)
}

// Sessions is the live session cache and the usage records;
// *sessions.Store implements it.
type Sessions interface {
	Online(stayID, deviceID int64) []sessions.Session
	StayUsage(ctx context.Context, stayID int64) (sessions.Usage, error)
}

var (
	_ Staff    = (*staff.Store)(nil)
	_ Hotel    = (*vouchers.Store)(nil)
	_ Sessions = (*sessions.Store)(nil)
)

// Config is the desk's configuration, as cmd builds it from keycard.yaml.
type Config struct {
	// URL is the desk's public HTTPS URL (the root of its host).
	URL string
	// Listen is the HTTPS listener's host:port.
	Listen string
	// GetCertificate gives the HTTPS certificate for each handshake
	// (portal.FileCertificate or portal.RenewingCertificate).
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// PortalURL is the guest portal's URL, printed on voucher cards and
	// in their QR code.
	PortalURL string
	// HotelName and SSID head the voucher card.
	HotelName, SSID string
	// Policies are the policy names a new stay may get; the first is the
	// default. Empty: "standard".
	Policies []string
	// DefaultMaxDevices is a new stay's device cap unless changed (4).
	DefaultMaxDevices int
	// CheckOutHour is the usual check-out time of day, the new-stay form's
	// default (11).
	CheckOutHour int
	// Location is the hotel's time zone for the pages (time.Local).
	Location *time.Location
}

// Deps are the desk's collaborators.
type Deps struct {
	Staff    Staff
	Hotel    Hotel
	Sessions Sessions     // nil: no live sessions or usage shown
	API      http.Handler // mounted at /api/v1/; nil mounts nothing
	Logger   *slog.Logger
	Now      func() time.Time
}

// Desk is the front-desk web app. It is safe for concurrent use.
type Desk struct {
	cfg      Config
	staff    Staff
	hotel    Hotel
	sessions Sessions
	api      http.Handler
	log      *slog.Logger
	now      func() time.Time
	pages    map[string]*template.Template
	portalQR []byte

	server *server
}

// New checks cfg and returns a desk.
func New(cfg Config, deps Deps) (*Desk, error) {
	for _, u := range []struct{ name, raw string }{{"URL", cfg.URL}, {"PortalURL", cfg.PortalURL}} {
		p, err := url.Parse(u.raw)
		if err != nil || p.Scheme != "https" || p.Host == "" {
			return nil, fmt.Errorf("desk: %s %q is not an absolute https URL", u.name, u.raw)
		}
	}
	switch {
	case deps.Staff == nil:
		return nil, errors.New("desk: no Staff")
	case deps.Hotel == nil:
		return nil, errors.New("desk: no Hotel")
	}
	if len(cfg.Policies) == 0 {
		cfg.Policies = []string{"standard"}
	}
	if cfg.DefaultMaxDevices == 0 {
		cfg.DefaultMaxDevices = 4
	}
	if cfg.CheckOutHour == 0 {
		cfg.CheckOutHour = 11
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.HotelName == "" {
		cfg.HotelName = "Keycard"
	}
	d := &Desk{cfg: cfg, staff: deps.Staff, hotel: deps.Hotel, sessions: deps.Sessions, api: deps.API, log: deps.Logger, now: deps.Now}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("component", "desk")
	if d.now == nil {
		d.now = time.Now
	}
	var err error
	if d.pages, err = parsePages(); err != nil {
		return nil, err
	}
	// The portal's URL is public: its QR code is the same for every card.
	if d.portalQR, err = qrSVG(cfg.PortalURL); err != nil {
		return nil, fmt.Errorf("desk: QR code of the portal URL: %w", err)
	}
	return d, nil
}

// Handler is the desk's HTTPS handler: the pages behind the security
// headers and the cross-origin check, and the API at /api/v1/.
func (d *Desk) Handler() http.Handler {
	mux := http.NewServeMux()
	// Logging in.
	mux.HandleFunc("GET /login", d.loginPage)
	mux.HandleFunc("POST /login", d.loginPost)
	mux.HandleFunc("GET /login/code", d.codePage)
	mux.HandleFunc("POST /login/code", d.codePost)
	mux.HandleFunc("GET /login/enrol", d.enrolPage)
	mux.HandleFunc("GET /login/enrol/qr.svg", d.enrolQR)
	mux.HandleFunc("POST /login/enrol", d.enrolPost)
	mux.HandleFunc("POST /logout", d.logout)
	mux.Handle("GET /password", d.authed("", d.passwordPage))
	mux.Handle("POST /password", d.authed("", d.passwordPost))
	// Each member of staff's own account: password, authenticator app,
	// recovery codes.
	mux.Handle("GET /account", d.authed("", d.accountPage))
	mux.Handle("POST /account/password", d.authed("", d.accountPassword))
	mux.Handle("POST /account/2fa", d.authed("", d.beginTOTPChange))
	mux.Handle("POST /account/2fa/confirm", d.authed("", d.confirmTOTPChange))
	mux.Handle("POST /account/recovery-codes", d.authed("", d.renewRecoveryCodes))
	// The front desk.
	mux.Handle("GET /{$}", d.authed(staff.PermStays, d.staysPage))
	mux.Handle("GET /stays/new", d.authed(staff.PermStays, d.newStayPage))
	mux.Handle("POST /stays", d.authed(staff.PermStays, d.createStay))
	mux.Handle("GET /stays/{id}", d.authed(staff.PermStays, d.stayPage))
	mux.Handle("GET /stays/{id}/{action}", d.authed(staff.PermStays, d.confirmStay))
	mux.Handle("POST /stays/{id}/{action}", d.authed(staff.PermStays, d.stayAction))
	mux.Handle("GET /stays/{id}/devices/{device}/revoke", d.authed(staff.PermDevices, d.confirmRevoke))
	mux.Handle("POST /stays/{id}/devices/{device}/revoke", d.authed(staff.PermDevices, d.revokeDevice))
	mux.HandleFunc("GET /portal-qr.svg", d.portalQRCode)
	// Admins.
	mux.Handle("GET /staff", d.authed(staff.PermStaff, d.staffPage))
	mux.Handle("POST /staff", d.authed(staff.PermStaff, d.addStaff))
	mux.Handle("GET /staff/{name}/{action}", d.authed(staff.PermStaff, d.confirmStaff))
	mux.Handle("POST /staff/{name}/{action}", d.authed(staff.PermStaff, d.staffAction))
	mux.Handle("GET /audit", d.authed(staff.PermAudit, d.auditPage))
	mux.Handle("GET /static/", staticFiles())
	mux.HandleFunc("/", d.notFound)

	pages := httpsec.CrossOrigin(http.HandlerFunc(d.crossOrigin), mux)
	if d.api == nil {
		return httpsec.Headers(true, pages)
	}
	// The API authenticates with bearer tokens, never the cookie, so a
	// cross-site form cannot ride on a staff login there; it answers its
	// own errors.
	root := http.NewServeMux()
	root.Handle("/api/v1/", d.api)
	root.Handle("/api/v1", d.api)
	root.Handle("/", pages)
	return httpsec.Headers(true, root)
}

// URL is the desk's public URL.
func (d *Desk) URL() string { return d.cfg.URL }

// crossOrigin answers a post that net/http.CrossOriginProtection refused.
func (d *Desk) crossOrigin(w http.ResponseWriter, r *http.Request) {
	d.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"),
		"sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "from", httpsec.Source(r))
	d.message(w, r, http.StatusForbidden, nil, "Refused", "This form was sent from another site. Open the desk's own page and try again.")
}

func (d *Desk) notFound(w http.ResponseWriter, r *http.Request) {
	d.message(w, r, http.StatusNotFound, nil, "Not found", "There is no such page.")
}

// actor is who the audit log names for a staff request.
func actor(r *http.Request, a staff.Account) vouchers.Actor {
	return vouchers.Actor{Name: "staff:" + a.Name, Source: httpsec.Source(r)}
}
