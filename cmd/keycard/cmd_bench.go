package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"keycard/internal/loadgen"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name: "bench",
		Usage: "load a RADIUS server with full EAP-TLS authentications as NAS + supplicant; " +
			"checks every Accept's Message-Authenticator and MPPE keys (bench accounting: the accounting port)",
		// --secret, --cert, --key and --ca are required, but checked by
		// Action: urfave/cli would ask for them before `bench accounting` too.
		Subcommands: []*cli.Command{benchAccountingCommand()},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Value: "127.0.0.1:1812", Usage: "RADIUS server `HOST:PORT` (loopback or your own test namespace only)"},
			&cli.StringFlag{Name: "secret", Usage: "shared secret (required)", EnvVars: []string{"KEYCARD_BENCH_SECRET"}},
			&cli.StringFlag{Name: "cert", Usage: "device certificate `FILE` (PEM, with the intermediate; required)"},
			&cli.StringFlag{Name: "key", Usage: "device key `FILE` (PEM; required)"},
			&cli.StringFlag{Name: "ca", Usage: "CA `FILE` that signed the server certificate (PEM; required)"},
			&cli.StringFlag{Name: "server-name", Value: "radius.keycard.test", Usage: "name the server certificate must carry"},
			&cli.StringFlag{Name: "tls", Value: "1.3", Usage: "TLS version: 1.2 or 1.3"},
			&cli.StringSliceFlag{Name: "curve", Usage: "key exchange to offer (X25519, P-256, X25519MLKEM768); Go's defaults when not given"},
			&cli.IntFlag{Name: "concurrency", Value: 8},
			&cli.IntFlag{Name: "count", Value: 1000, Usage: "authentications in all"},
			&cli.DurationFlag{Name: "duration", Value: 2 * time.Minute, Usage: "stop after this long at the latest"},
			&cli.IntFlag{Name: "fragment-size", Value: 1000},
			&cli.BoolFlag{Name: "resume", Usage: "resume TLS sessions after each worker's first authentication"},
			&cli.DurationFlag{Name: "timeout", Value: 3 * time.Second, Usage: "wait per RADIUS round before a retransmission"},
			&cli.BoolFlag{Name: "allow-late-message-authenticator", Usage: "accept a valid Message-Authenticator that is not the first attribute (FreeRADIUS 3.2.1 puts it last); counted in the report"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			for _, name := range []string{"secret", "cert", "key", "ca"} {
				if c.String(name) == "" {
					return fmt.Errorf("--%s is required", name)
				}
			}
			cert, err := tls.LoadX509KeyPair(c.String("cert"), c.String("key"))
			if err != nil {
				return fmt.Errorf("--cert/--key: %w", err)
			}
			pemCA, err := os.ReadFile(c.String("ca"))
			if err != nil {
				return fmt.Errorf("--ca: %w", err)
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pemCA) {
				return fmt.Errorf("--ca: %s holds no PEM certificate", c.String("ca"))
			}
			var version uint16
			switch c.String("tls") {
			case "1.2":
				version = tls.VersionTLS12
			case "1.3":
				version = tls.VersionTLS13
			default:
				return fmt.Errorf("--tls: %q; use 1.2 or 1.3", c.String("tls"))
			}
			curves, err := curveIDs(c.StringSlice("curve"))
			if err != nil {
				return err
			}
			report, err := loadgen.Run(c.Context, loadgen.Options{
				Server: c.String("server"), Secret: []byte(c.String("secret")),
				Concurrency: c.Int("concurrency"), Count: c.Int("count"), Duration: c.Duration("duration"),
				TLSVersion: version, Curves: curves, Certificate: cert, RootCAs: roots,
				ServerName: c.String("server-name"), FragmentSize: c.Int("fragment-size"),
				Resume: c.Bool("resume"), Timeout: c.Duration("timeout"), NASIdentifier: "keycard-bench",
				AllowLateMessageAuthenticator: c.Bool("allow-late-message-authenticator"),
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				if err := enc.Encode(report); err != nil {
					return err
				}
			} else {
				report.WriteText(c.App.Writer)
			}
			if report.Auths == 0 {
				return fmt.Errorf("no authentication succeeded")
			}
			return nil
		},
	}
}

func curveIDs(names []string) ([]tls.CurveID, error) {
	var out []tls.CurveID
	for _, n := range names {
		switch n {
		case "X25519":
			out = append(out, tls.X25519)
		case "P-256":
			out = append(out, tls.CurveP256)
		case "P-384":
			out = append(out, tls.CurveP384)
		case "X25519MLKEM768":
			out = append(out, tls.X25519MLKEM768)
		default:
			return nil, fmt.Errorf("--curve: unknown %q; use X25519, P-256, P-384 or X25519MLKEM768", n)
		}
	}
	return out, nil
}

func benchAccountingCommand() *cli.Command {
	return &cli.Command{
		Name: "accounting",
		Usage: "load a RADIUS accounting port with sessions (Start, Interim-Update, Stop) as NAS; " +
			"checks every Accounting-Response's Identifier and Response Authenticator",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Value: "127.0.0.1:1813", Usage: "RADIUS accounting `HOST:PORT` (loopback or your own test namespace only)"},
			&cli.StringFlag{Name: "secret", Required: true, EnvVars: []string{"KEYCARD_BENCH_SECRET"}},
			&cli.IntFlag{Name: "sockets", Value: loadgen.DefaultSockets, Usage: "simulated access points in parallel, one session at a time each"},
			&cli.IntFlag{Name: "count", Value: 10000, Usage: "sessions in all (three records each)"},
			&cli.DurationFlag{Name: "duration", Value: 2 * time.Minute, Usage: "stop after this long at the latest"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Second, Usage: "wait per record before a retransmission"},
			&cli.IntFlag{Name: "retries", Value: loadgen.DefaultRetries, Usage: "retransmissions of a record before giving up on it"},
			&cli.StringFlag{Name: "nas-identifier", Value: "keycard-bench"},
			&cli.IntFlag{Name: "first-session", Usage: "number of the first session (Acct-Session-Id loadgen-NNNNNNNN); give each run against one server its own range"},
			&cli.StringFlag{Name: "acked", Usage: "write every acknowledged record to `FILE`, one JSON object a line, to check afterwards that the server kept it"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			opts := loadgen.AcctOptions{
				Server: c.String("server"), Secret: []byte(c.String("secret")),
				Sockets: c.Int("sockets"), Count: c.Int("count"), Duration: c.Duration("duration"),
				Timeout: c.Duration("timeout"), Retries: c.Int("retries"),
				NASIdentifier: c.String("nas-identifier"), FirstSession: c.Int("first-session"),
			}
			var acked *ackWriter
			if path := c.String("acked"); path != "" {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					return fmt.Errorf("--acked: %w", err)
				}
				defer f.Close()
				acked = &ackWriter{w: bufio.NewWriter(f)}
				opts.OnAck = acked.write
			}
			report, err := loadgen.Accounting(c.Context, opts)
			if err != nil {
				return err
			}
			if acked != nil {
				if err := acked.flush(); err != nil {
					return fmt.Errorf("--acked: %w", err)
				}
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				if err := enc.Encode(report); err != nil {
					return err
				}
			} else {
				report.WriteText(c.App.Writer)
			}
			if report.Acked == 0 {
				return fmt.Errorf("no accounting record was acknowledged")
			}
			return nil
		},
	}
}

// ackWriter writes acknowledged records as JSON lines, from every socket's
// goroutine.
type ackWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
}

func (a *ackWriter) write(ack loadgen.AcctAck) {
	b, err := json.Marshal(ack)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil && err == nil {
		b = append(b, '\n')
		_, err = a.w.Write(b)
	}
	if a.err == nil {
		a.err = err
	}
}

func (a *ackWriter) flush() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	return a.w.Flush()
}
