package portal

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"time"

	"keycard/portal/httpsec"
	"keycard/portal/profiles"
	"keycard/sessions"
	"keycard/vouchers"
)

// Hotel is what the portal asks of the hotel's domain; *vouchers.Store
// implements it.
type Hotel interface {
	// StayForVoucher and StayForRoom sign a guest in, counting wrong tries
	// against the voucher's lock.
	StayForVoucher(ctx context.Context, by vouchers.Actor, code string) (vouchers.Stay, error)
	StayForRoom(ctx context.Context, by vouchers.Actor, room, surname string) (vouchers.Stay, error)
	// EnrolGuest enrols a device with a key the server made.
	EnrolGuest(ctx context.Context, by vouchers.Actor, stayID int64, via string, e vouchers.Enrolment) (vouchers.Device, *x509.Certificate, error)
	// MintEnrolChallenge lets an Apple device enrol its own key by SCEP.
	MintEnrolChallenge(ctx context.Context, by vouchers.Actor, stayID int64, platform, label string, lifetime time.Duration) (string, time.Time, error)
	Stay(ctx context.Context, id int64) (vouchers.Stay, error)
	Devices(ctx context.Context, stayID int64) ([]vouchers.Device, error)
	RevokeDevice(ctx context.Context, by vouchers.Actor, id int64, reason string) (vouchers.Device, error)
}

// Sessions finds the open accounting session of a client address, for the
// RFC 8908 API; *sessions.Store implements it.
type Sessions interface {
	ByAddress(ip netip.Addr) (sessions.Session, bool)
}

var (
	_ Hotel    = (*vouchers.Store)(nil)
	_ Sessions = (*sessions.Store)(nil)
)

// Config is the portal's configuration, as cmd builds it from keycard.yaml.
type Config struct {
	// URL is the public HTTPS URL of the portal's root.
	URL string
	// Listen and HTTPListen are the HTTPS and plain-HTTP listeners'
	// host:port; HTTPListen "" serves no plain HTTP.
	Listen, HTTPListen string
	// GetCertificate gives the HTTPS certificate for each handshake (see
	// FileCertificate and RenewingCertificate).
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)

	// Network is what every profile says about the secure network.
	Network profiles.Network
	// Chain is the issuing intermediate and the root, for the PKCS#12
	// files Windows imports (its WLAN profile pins the root by
	// thumbprint, so the root must reach the root store).
	Chain []*x509.Certificate
	// Passpoint, when set, adds an Android Passpoint profile.
	Passpoint *profiles.Passpoint

	// RoomLogin signs guests in with room number and surname instead of
	// the voucher code.
	RoomLogin bool
	// SCEP has Apple devices make their own key (SCEP payload); off, they
	// get a PKCS#12 payload.
	SCEP bool
	// SCEPChallengeLifetime is how long the challenge in an Apple profile
	// lives. Default 10 minutes.
	SCEPChallengeLifetime time.Duration

	// RateLimit slows and blocks client addresses sending wrong codes.
	RateLimit RateLimit
	// DownloadLifetime is how long a profile waits for its one download.
	// Default 10 minutes.
	DownloadLifetime time.Duration
	// SignInLifetime is how long a signed-in page may enrol more devices
	// (another profile, or a replacement at the cap) without the code
	// being typed again. Default 15 minutes.
	SignInLifetime time.Duration
}

// Deps are the portal's collaborators.
type Deps struct {
	Hotel    Hotel
	Sessions Sessions     // nil: every address is captive
	SCEP     http.Handler // mounted at /scep; nil mounts nothing
	Logger   *slog.Logger
	Now      func() time.Time
	Rand     io.Reader // sign-in and download handles, PKCS#12 passwords; default crypto/rand
}

// Defaults of Config.
const (
	DefaultSCEPChallengeLifetime = 10 * time.Minute
	DefaultDownloadLifetime      = 10 * time.Minute
	DefaultSignInLifetime        = 15 * time.Minute
)

// Portal is the guest portal. It is safe for concurrent use.
type Portal struct {
	cfg      Config
	url      *url.URL
	hotel    Hotel
	sessions Sessions
	scep     http.Handler
	log      *slog.Logger
	now      func() time.Time
	rand     io.Reader

	page    *template.Template
	limiter *limiter
	// work bounds the enrolments worked on at once (see enrol).
	work      chan struct{}
	signIns   *handles[signIn]
	downloads *handles[download]

	servers *servers
}

// New checks cfg and returns a portal; Listen and Serve put it on the
// network, Handler and RedirectHandler give its two handlers to test or
// to mount elsewhere.
func New(cfg Config, deps Deps) (*Portal, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "":
		return nil, fmt.Errorf("portal: URL %q is not an absolute https URL", cfg.URL)
	case u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("portal: URL %q must be the root of its host", cfg.URL)
	case deps.Hotel == nil:
		return nil, errors.New("portal: no Hotel")
	case cfg.Network.RootCA == nil:
		return nil, errors.New("portal: Network.RootCA is missing")
	case cfg.Network.SSID == "" || cfg.Network.ServerName == "":
		return nil, errors.New("portal: Network.SSID and Network.ServerName are required")
	}
	u.Path, u.RawPath = "/", ""
	if cfg.SCEPChallengeLifetime == 0 {
		cfg.SCEPChallengeLifetime = DefaultSCEPChallengeLifetime
	}
	if cfg.DownloadLifetime == 0 {
		cfg.DownloadLifetime = DefaultDownloadLifetime
	}
	if cfg.SignInLifetime == 0 {
		cfg.SignInLifetime = DefaultSignInLifetime
	}
	if cfg.SCEP && deps.SCEP == nil {
		return nil, errors.New("portal: SCEP is on but no SCEP handler was given")
	}
	if cfg.Network.HotelName == "" {
		cfg.Network.HotelName = cfg.Network.SSID
	}
	rl, err := cfg.RateLimit.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Portal{
		cfg:      cfg,
		url:      u,
		hotel:    deps.Hotel,
		sessions: deps.Sessions,
		scep:     deps.SCEP,
		log:      deps.Logger,
		now:      deps.Now,
		rand:     deps.Rand,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "portal")
	if p.now == nil {
		p.now = time.Now
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.page, err = parsePage(); err != nil {
		return nil, err
	}
	p.limiter = newLimiter(rl, p.now)
	p.work = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	p.signIns = newHandles[signIn](maxSignIns, p.now, p.rand)
	p.downloads = newHandles[download](maxDownloads, p.now, p.rand)
	p.downloads.drop = wipe
	return p, nil
}

// URL is the portal's public URL (its root, with a trailing slash).
func (p *Portal) URL() string { return p.url.String() }

// Handler is the HTTPS handler: pages, downloads, /api/captive, /scep,
// all behind the security headers and the cross-origin check.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.home)
	mux.HandleFunc("POST /enrol", p.enrol)
	mux.HandleFunc("GET /download/{handle}", p.serveDownload)
	mux.HandleFunc("GET /api/captive", p.captiveAPI)
	mux.Handle("GET /static/", staticFiles())
	if p.scep != nil {
		mux.Handle("/scep", p.scep)
	}
	mux.HandleFunc("/", p.notFound)
	return p.secure(true, httpsec.CrossOrigin(http.HandlerFunc(p.crossOrigin), mux))
}

// RedirectHandler is the plain-HTTP handler: every request, whatever its
// host, path or method, is sent to the portal's HTTPS URL. The
// operating systems' captive-portal probes (Apple's /hotspot-detect.html
// and /library/test/success.html, Android's /generate_204 and /gen_204,
// Windows' /connecttest.txt and /ncsi.txt) expect a fixed answer from the
// internet; a redirect instead is how they learn there is a portal, and
// where.
func (p *Portal) RedirectHandler() http.Handler {
	return p.secure(false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := p.URL()
		w.Header().Set("Location", target)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// 302, not 301/308: a probe must not cache the answer, and a
		// POST that arrives here (a stale form) becomes a GET of the
		// portal.
		w.WriteHeader(http.StatusFound)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, "<!doctype html><title>Wi-Fi</title><a href=\"%s\">%s</a>\n", template.HTMLEscapeString(target), template.HTMLEscapeString(target))
		}
	}))
}

// clientAddr is the address the request came from (httpsec.ClientAddr).
// The portal is reached directly on the onboarding network; it trusts no
// X-Forwarded-For.
func clientAddr(r *http.Request) netip.Addr { return httpsec.ClientAddr(r) }

// guest is the audit actor of a request: "guest" from its address.
func guest(r *http.Request) vouchers.Actor {
	return vouchers.Actor{Name: "guest", Source: httpsec.Source(r)}
}
