package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"keycard/ca"
	"keycard/internal/store"
	"keycard/radiusd"
	"keycard/sessions"
	"keycard/vouchers"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the RADIUS server (and metrics) until SIGTERM or Ctrl-C",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "demo", Usage: "first set up a try-out: CA if missing, a loopback NAS, a demo stay with its voucher printed"},
		},
		Action: withEnv(true, func(c *cli.Context, e *env) error {
			ctx := c.Context
			if c.Bool("demo") {
				if err := setUpDemo(ctx, e); err != nil {
					return fmt.Errorf("demo set-up: %w", err)
				}
			}
			return serve(ctx, e)
		}),
	}
}

// serveGCPercent is the garbage collector's target when GOGC is not set.
// Keycard's live heap is small (sessions, caches: tens of MB) and every
// authentication allocates TLS state, so collecting at 4x the live heap
// instead of 2x trades a little memory for about 7% less CPU per
// authentication (measured with make bench).
const serveGCPercent = 400

// serveMemoryLimit is the Go runtime's soft memory limit when GOMEMLIMIT
// is not set. At 4x the live heap, the collector would let a flood's
// garbage grow the heap to five times what the bounded caches hold (a
// 60 MB live heap under a 20,000 packets/s flood became 320 MB); the
// limit makes it collect sooner only when the heap nears it, so the usual
// load keeps the CPU that serveGCPercent saves. It is soft: a live heap
// above it costs GC time, never a crash.
const serveMemoryLimit = 160 << 20

// serve wires the packages together and runs until ctx is done.
func serve(ctx context.Context, e *env) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
	a, err := e.ca(ctx)
	if err != nil {
		return err
	}
	serverCert, err := a.ServerCertificate(ctx, e.cfg.CA.RADIUSServerName, e.cfg.CA.ServerLifetime.Duration)
	if err != nil {
		return err
	}
	vs, err := e.vouchers(ctx, true)
	if err != nil {
		return err
	}
	nas, err := e.nas(ctx, vs, true)
	if err != nil {
		return err
	}
	// The audit head goes to the log (and so, usually, off this host): it
	// anchors the hash chain against a truncated audit log.
	if n, head, err := vs.AuditHead(ctx); err == nil {
		e.log.Info("audit log head", "entries", n, "head", head)
	}
	if err := nas.Reload(ctx); err != nil {
		return err
	}
	var enforcer *radiusd.Enforcer // set before serving starts
	online, err := e.sessions(ctx)
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	roots, _ := a.Pools()
	minVersion, maxVersion := e.cfg.RADIUS.TLSVersions()
	r := e.cfg.RADIUS
	server, err := radiusd.New(radiusd.Config{
		AuthListen:          r.AuthListen,
		AcctListen:          r.AcctListen,
		AcctWorkers:         r.AcctWorkers,
		MaxSessionTimeout:   maxSessionTimeout(r.MaxSessionTimeout.Duration),
		FragmentSize:        r.FragmentSize,
		MaxMessageSize:      r.MaxMessageSize,
		MaxRounds:           r.MaxRounds,
		TLSMinVersion:       minVersion,
		TLSMaxVersion:       maxVersion,
		Curves:              r.CurveIDs(),
		SessionResumption:   r.SessionResumption,
		RejectDelay:         rejectDelay(r.RejectDelay.Duration),
		AcctInterimInterval: r.AcctInterimInterval.Duration,
		ReplyCacheSize:      r.ReplyCacheSize,
		ReplyCacheTTL:       r.ReplyCacheTTL.Duration,
		EAPSessions:         r.EAPSessions,
		EAPTimeout:          r.EAPTimeout.Duration,
		Workers:             r.Workers,
	}, radiusd.Deps{
		NAS:               nas,
		Authorizer:        vs,
		ServerCertificate: serverCert,
		ClientCAs:         roots,
		Logger:            e.log,
		Registry:          registry,
		Now:               e.now,
		Accounting:        online,
		Devices:           vs,
		SessionSeen:       func(ctx context.Context, s sessions.Session) { enforcer.SessionSeen(ctx, s) },
		Online:            online,
		Evict:             func(ctx context.Context, device int64, reason string) { enforcer.KickDevice(ctx, device, reason) },
	})
	if err != nil {
		return err
	}
	das, err := e.dasClient(registry)
	if err != nil {
		return err
	}
	defer das.Close()
	enforcer, err = radiusd.NewEnforcer(radiusd.EnforcerConfig{
		Hotel: vs, Sessions: online, NAS: nas, DAS: das,
		MaxSessionTimeout: maxSessionTimeout(r.MaxSessionTimeout.Duration),
		Now:               e.now, Logger: e.log, Registry: registry,
		OnChange: func(ctx context.Context, entries []vouchers.AuditEntry) {
			reload := false
			for _, en := range entries {
				switch {
				case strings.HasPrefix(en.Action, "nas."):
					reload = true
				case en.Action == "session.kick":
					// Another process disconnected a session: the cache
					// learns its outcome (and its end, if the NAS had
					// forgotten it) now rather than at its next record.
					if id, err := strconv.ParseInt(strings.TrimPrefix(en.Subject, "session:"), 10, 64); err == nil {
						if err := online.Refresh(ctx, id); err != nil {
							e.log.Warn("refresh a session kicked by another process", "session", id, "err", err)
						}
					}
				}
			}
			if reload {
				if err := nas.Reload(ctx); err != nil {
					e.log.Error("reload NAS clients", "err", err)
				}
			}
		},
	})
	if err != nil {
		return err
	}

	// The portal binds its ports now, so that one in use stops serve
	// before anything else starts.
	guestPortal, err := newPortal(ctx, e, a, vs, online)
	if err != nil {
		return err
	}
	frontDesk, err := newDesk(ctx, e, a, vs, online, enforcer) // desk_serve.go
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	if err := startWebhooks(gctx, e, g); err != nil { // webhooks_wiring.go
		return err
	}
	g.Go(func() error { return server.ListenAndServe(gctx) })
	if guestPortal != nil {
		g.Go(guestPortal.Serve)
	}
	if frontDesk != nil {
		g.Go(frontDesk.Serve)
	}
	g.Go(func() error { renewServerCertificate(gctx, e, a, server, serverCert); return nil })
	g.Go(func() error { return enforcer.Run(gctx) })
	// The audit log is the change feed: a stay ended or a device revoked by
	// another process (the CLI, the front desk) reaches the enforcer within
	// changeFeedInterval.
	g.Go(func() error { store.Watch(gctx, e.db, changeFeedInterval, enforcer.Changed); return nil })
	var metrics *http.Server
	if addr := e.cfg.Metrics.Listen; addr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
		metrics = &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := metrics.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("metrics on %s: %w", addr, err)
			}
			return nil
		})
	}
	e.log.Info("keycard serving", "radius", e.cfg.RADIUS.AuthListen, "accounting", e.cfg.RADIUS.AcctListen, "metrics", e.cfg.Metrics.Listen,
		"server_name", e.cfg.CA.RADIUSServerName, "portal", portalURL(e), "desk", deskURL(e))
	g.Go(func() error {
		<-gctx.Done()
		// Finish in-flight requests, then close; bounded so a stuck peer
		// cannot hold shutdown forever.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var errs []error
		errs = append(errs, server.Shutdown(sctx))
		if guestPortal != nil {
			errs = append(errs, guestPortal.Shutdown(sctx))
		}
		if frontDesk != nil {
			errs = append(errs, frontDesk.Shutdown(sctx))
		}
		if metrics != nil {
			errs = append(errs, metrics.Shutdown(sctx))
		}
		return errors.Join(errs...)
	})
	err = g.Wait()
	e.log.Info("keycard stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// changeFeedInterval is how often serve looks for changes committed by
// another process (PRAGMA data_version: no table is read when nothing
// changed).
const changeFeedInterval = 200 * time.Millisecond

// serverCertCheck is how often serve asks the CA whether the RADIUS server
// certificate is due for renewal (it is re-issued in the last third of its
// life, so a daily check would do; hourly costs nothing).
const serverCertCheck = time.Hour

// renewServerCertificate keeps the RADIUS server certificate fresh while
// serve runs, which may be longer than the certificate lives.
func renewServerCertificate(ctx context.Context, e *env, a *ca.Authority, server *radiusd.Server, current tls.Certificate) {
	t := time.NewTicker(serverCertCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cert, err := a.ServerCertificate(ctx, e.cfg.CA.RADIUSServerName, e.cfg.CA.ServerLifetime.Duration)
		if err != nil {
			e.log.Error("RADIUS server certificate renewal failed; the current one stays in use", "err", err, "not_after", current.Leaf.NotAfter)
			continue
		}
		if cert.Leaf.SerialNumber.Cmp(current.Leaf.SerialNumber) == 0 {
			continue
		}
		if err := server.SetServerCertificate(cert); err != nil {
			e.log.Error("RADIUS server certificate renewal failed", "err", err)
			continue
		}
		e.log.Info("RADIUS server certificate renewed", "not_after", cert.Leaf.NotAfter, "sha256", fingerprint(cert.Leaf))
		current = cert
	}
}

// rejectDelay maps the config's "0s" (no delay) to radiusd's "negative
// means none"; radiusd reads zero as "use the default".
func rejectDelay(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// demoSecret is the loopback NAS secret of the try-out set-up; it is
// printed, and only ever valid for 127.0.0.1.
const demoSecret = "keycard-demo-secret"

// setUpDemo prepares a try-out on a fresh data folder: a CA (when there is
// none), a NAS for loopback, and a demo stay whose voucher is printed.
func setUpDemo(ctx context.Context, e *env) error {
	w := e.out
	if _, err := e.ca(ctx); errors.Is(err, ca.ErrNotInitialised) {
		pass, err := e.passphrase()
		if err != nil {
			return err
		}
		a, err := ca.Init(ctx, e.cfg.CA.Dir, pass, ca.InitOptions{
			Organization:         e.cfg.CA.Organization,
			RootLifetime:         e.cfg.CA.RootLifetime.Duration,
			IntermediateLifetime: e.cfg.CA.IntermediateLifetime.Duration,
		})
		if err != nil {
			return err
		}
		e.authority = a
		line(w, "Created a CA in %s (its keys are encrypted with the CA passphrase).", e.cfg.CA.Dir)
	} else if err != nil {
		return err
	}
	vs, err := e.vouchers(ctx, true)
	if err != nil {
		return err
	}
	nas, err := e.nas(ctx, vs, true)
	if err != nil {
		return err
	}
	list, err := nas.List(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		if _, err := nas.Add(ctx, vouchers.Actor{Name: "system:demo", Source: "cli"}, radiusd.NAS{
			Name: "demo-loopback", Network: mustPrefix("127.0.0.1/32"), Secret: []byte(demoSecret),
			DASPort: 3799,
		}); err != nil {
			return err
		}
		line(w, "Added NAS demo-loopback for 127.0.0.1 with shared secret %q.", demoSecret)
	}
	// A later start reuses the live demo stay (with a fresh voucher code,
	// since only its hash is kept) rather than piling up demo stays.
	demo := vouchers.Actor{Name: "system:demo", Source: "cli"}
	stays, err := vs.ListStays(ctx, vouchers.StayFilter{})
	if err != nil {
		return err
	}
	for _, s := range stays {
		if s.GuestName == demoGuest && !s.Over(e.now()) {
			code, err := vs.ReissueVoucher(ctx, demo, s.ID)
			if err != nil {
				return err
			}
			printDemo(w, e, s, code)
			return nil
		}
	}
	now := e.now()
	stay, code, err := vs.CreateStay(ctx, demo, vouchers.NewStay{
		Room: "101", GuestName: demoGuest, CheckIn: now, CheckOut: now.Add(24 * time.Hour), MaxDevices: 4, Policy: "standard",
	})
	if err != nil {
		return err
	}
	printDemo(w, e, stay, code)
	return nil
}

// demoGuest names the try-out stay.
const demoGuest = "Demo Guest"

func printDemo(w io.Writer, e *env, stay vouchers.Stay, code string) {
	line(w, "")
	line(w, "  Demo stay %d: %s, room %s, until %s", stay.ID, stay.GuestName, stay.Room, when(stay.CheckOut))
	line(w, "  Voucher code: %s", code)
	printDemoPortal(w, e, stay)
	printDemoDesk(w, e)
	line(w, "  RADIUS: authentication %v, accounting %v, NAS secret %q; metrics: http://%s/metrics",
		e.cfg.RADIUS.AuthListen, e.cfg.RADIUS.AcctListen, demoSecret, e.cfg.Metrics.Listen)
	line(w, "  Who is online: %s --config %s session list", os.Args[0], e.configPath)
	line(w, "  Press Ctrl-C to stop.")
	line(w, "")
}
