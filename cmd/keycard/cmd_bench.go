package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"keycard/internal/loadgen"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name: "bench",
		Usage: "load a RADIUS server with full EAP-TLS authentications as NAS + supplicant; " +
			"checks every Accept's Message-Authenticator and MPPE keys",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Value: "127.0.0.1:1812", Usage: "RADIUS server `HOST:PORT` (loopback or your own test namespace only)"},
			&cli.StringFlag{Name: "secret", Required: true, EnvVars: []string{"KEYCARD_BENCH_SECRET"}},
			&cli.StringFlag{Name: "cert", Required: true, Usage: "device certificate `FILE` (PEM, with the intermediate)"},
			&cli.StringFlag{Name: "key", Required: true, Usage: "device key `FILE` (PEM)"},
			&cli.StringFlag{Name: "ca", Required: true, Usage: "CA `FILE` that signed the server certificate (PEM)"},
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
