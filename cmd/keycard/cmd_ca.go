package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"keycard/ca"
)

type certView struct {
	Subject     string    `json:"subject"`
	Serial      string    `json:"serial"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	SHA256      string    `json:"sha256"`
	Certificate string    `json:"file,omitempty"`
}

func viewCert(c *x509.Certificate, file string) certView {
	sum := sha256.Sum256(c.Raw)
	return certView{Subject: c.Subject.String(), Serial: c.SerialNumber.Text(16), NotBefore: c.NotBefore,
		NotAfter: c.NotAfter, SHA256: hex.EncodeToString(sum[:]), Certificate: file}
}

func caCommand() *cli.Command {
	return &cli.Command{
		Name:  "ca",
		Usage: "the certificate authority that signs guests' devices and the RADIUS server",
		Subcommands: []*cli.Command{
			{
				Name:  "init",
				Usage: "create the root and the issuing intermediate (keys encrypted with the CA passphrase)",
				Flags: []cli.Flag{jsonFlag},
				Action: withEnv(true, func(c *cli.Context, e *env) error {
					pass, err := e.passphrase()
					if err != nil {
						return err
					}
					a, err := ca.Init(c.Context, e.cfg.CA.Dir, pass, ca.InitOptions{
						Organization:         e.cfg.CA.Organization,
						RootLifetime:         e.cfg.CA.RootLifetime.Duration,
						IntermediateLifetime: e.cfg.CA.IntermediateLifetime.Duration,
					})
					if err != nil {
						return err
					}
					if err := e.audit(c.Context, "ca.init", "ca", "root "+fingerprint(a.Root())+" issuing "+fingerprint(a.Intermediate())); err != nil {
						return err
					}
					return e.emit(map[string]any{
						"dir": e.cfg.CA.Dir, "root": viewCert(a.Root(), filepath.Join(e.cfg.CA.Dir, "root.crt")),
						"intermediate": viewCert(a.Intermediate(), filepath.Join(e.cfg.CA.Dir, "intermediate.crt")),
					}, func(w io.Writer) {
						line(w, "CA created in %s.", e.cfg.CA.Dir)
						printCert(w, "Root", a.Root())
						printCert(w, "Issuing", a.Intermediate())
					})
				}),
			},
			{
				Name:  "show",
				Usage: "show the root, the issuing intermediate and the RADIUS server certificate",
				Flags: []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					a, err := e.ca(c.Context)
					if err != nil {
						return err
					}
					return e.emit(map[string]any{"dir": e.cfg.CA.Dir, "root": viewCert(a.Root(), ""), "intermediate": viewCert(a.Intermediate(), "")},
						func(w io.Writer) {
							line(w, "CA in %s", e.cfg.CA.Dir)
							printCert(w, "Root", a.Root())
							printCert(w, "Issuing", a.Intermediate())
						})
				}),
			},
			{
				Name:  "crl",
				Usage: "write a CRL of revoked devices, signed by the issuing CA",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Required: true, Usage: "`FILE` (PEM)"},
					&cli.DurationFlag{Name: "valid", Value: 24 * time.Hour, Usage: "how long until the next update"},
					jsonFlag,
				},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					revoked, err := vs.Revoked(c.Context)
					if err != nil {
						return err
					}
					a, err := e.ca(c.Context)
					if err != nil {
						return err
					}
					var list []ca.Revoked
					for _, d := range revoked {
						serial, ok := new(big.Int).SetString(d.Serial, 16)
						if !ok || d.RevokedAt == nil {
							return fmt.Errorf("device %d has a damaged serial %q", d.ID, d.Serial)
						}
						list = append(list, ca.Revoked{Serial: serial, RevokedAt: *d.RevokedAt})
					}
					now := e.now()
					der, err := a.CRL(list, now, now.Add(c.Duration("valid")))
					if err != nil {
						return err
					}
					if err := os.WriteFile(c.String("out"), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
						return err
					}
					if err := e.audit(c.Context, "ca.crl", "ca", fmt.Sprintf("%d revoked, written to %s", len(list), c.String("out"))); err != nil {
						return err
					}
					return e.emit(map[string]any{"file": c.String("out"), "revoked": len(list)}, func(w io.Writer) {
						line(w, "Wrote %s with %d revoked device(s).", c.String("out"), len(list))
					})
				}),
			},
			{
				Name: "export-server",
				Usage: "write the RADIUS server certificate, its chain and its key UNENCRYPTED to a folder " +
					"(for running a peer RADIUS server on the same certificates, e.g. make bench)",
				Flags: []cli.Flag{&cli.StringFlag{Name: "out", Required: true, Usage: "`DIR`"}, jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					a, err := e.ca(c.Context)
					if err != nil {
						return err
					}
					cert, err := a.ServerCertificate(c.Context, e.cfg.CA.RADIUSServerName, e.cfg.CA.ServerLifetime.Duration)
					if err != nil {
						return err
					}
					dir := c.String("out")
					if err := os.MkdirAll(dir, 0o700); err != nil {
						return err
					}
					keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
					if err != nil {
						return err
					}
					files := map[string]string{
						"certificate": filepath.Join(dir, "server.crt"),
						"key":         filepath.Join(dir, "server.key"),
						"ca":          filepath.Join(dir, "ca.pem"),
					}
					if err := writePEM(files["key"], 0o600, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}); err != nil {
						return err
					}
					if err := writePEM(files["certificate"], 0o644, certBlock(cert.Leaf), certBlock(a.Intermediate())); err != nil {
						return err
					}
					if err := writePEM(files["ca"], 0o644, certBlock(a.Root()), certBlock(a.Intermediate())); err != nil {
						return err
					}
					if err := e.audit(c.Context, "ca.export-server", "ca", "unencrypted RADIUS server key written to "+dir); err != nil {
						return err
					}
					return e.emit(files, func(w io.Writer) {
						line(w, "Wrote %s, %s and %s (the key is NOT encrypted: delete it when done).", files["certificate"], files["key"], files["ca"])
					})
				}),
			},
		},
	}
}

// fingerprint is a certificate's SHA-256, in hex.
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func printCert(w io.Writer, label string, c *x509.Certificate) {
	sum := sha256.Sum256(c.Raw)
	line(w, "%s:\t%s", label, c.Subject)
	line(w, "\tvalid %s to %s", when(c.NotBefore), when(c.NotAfter))
	line(w, "\tSHA-256 %s", hex.EncodeToString(sum[:]))
}
