package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"keycard/radiusd"
)

type nasView struct {
	ID                               int64     `json:"id"`
	Name                             string    `json:"name"`
	Network                          string    `json:"network"`
	DASPort                          int       `json:"das_port"`
	AllowMissingMessageAuthenticator bool      `json:"allow_missing_message_authenticator"`
	CreatedAt                        time.Time `json:"created_at"`
	Secret                           string    `json:"secret,omitempty"`
}

func viewNAS(n radiusd.NAS) nasView {
	return nasView{ID: n.ID, Name: n.Name, Network: n.Network.String(), DASPort: n.DASPort,
		AllowMissingMessageAuthenticator: n.AllowMissingMessageAuthenticator, CreatedAt: n.CreatedAt}
}

// parseNetwork accepts an address (one access point) or a CIDR (a subnet of
// them).
func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("--address: %q is not a valid address or CIDR (like 10.20.0.0/24)", s)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("--address: %q has host bits set; did you mean %s?", s, p.Masked())
		}
		if p.Bits() == 0 {
			return netip.Prefix{}, fmt.Errorf("--address: %q would let every address on the internet ask; give the access points' subnet", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("--address: %q is not a valid address or CIDR (like 10.20.0.5 or 10.20.0.0/24)", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func nasCommand() *cli.Command {
	return &cli.Command{
		Name:  "nas",
		Usage: "the access points (RADIUS clients) allowed to ask",
		Subcommands: []*cli.Command{
			{
				Name:  "add",
				Usage: "allow an access point or a subnet of them; the shared secret is generated when not given and shown once",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Required: true},
					&cli.StringFlag{Name: "address", Required: true, Usage: "an address or a CIDR"},
					&cli.StringFlag{Name: "secret", Usage: "shared secret (generated when empty; visible in ps and shell history: prefer --secret-file)"},
					&cli.StringFlag{Name: "secret-file", Usage: "read the shared secret from `FILE` (one line)"},
					&cli.IntFlag{Name: "das-port", Value: 3799, Usage: "the access point's port for Disconnect-Request (RFC 5176)"},
					&cli.BoolFlag{Name: "allow-missing-message-authenticator", Usage: "accept Access-Requests without Message-Authenticator from this NAS (unsafe: BlastRADIUS; logged at every start)"},
					jsonFlag,
				},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					network, err := parseNetwork(c.String("address"))
					if err != nil {
						return err
					}
					secret, err := secretFlag(c, "secret")
					if err != nil {
						return err
					}
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					ns, err := e.nas(c.Context, vs, true)
					if err != nil {
						return err
					}
					n, err := ns.Add(c.Context, e.by, radiusd.NAS{
						Name: c.String("name"), Network: network, Secret: []byte(secret),
						DASPort: c.Int("das-port"), AllowMissingMessageAuthenticator: c.Bool("allow-missing-message-authenticator"),
					})
					if err != nil {
						return err
					}
					v := viewNAS(n)
					generated := secret == ""
					if generated {
						v.Secret = string(n.Secret)
					}
					return e.emit(v, func(w io.Writer) {
						line(w, "NAS %q added for %s (DAS port %d).", n.Name, n.Network, n.DASPort)
						if generated {
							line(w, "Shared secret (shown once, stored encrypted): %s", n.Secret)
						}
					})
				}),
			},
			{
				Name:  "list",
				Usage: "list access points (secrets are never shown)",
				Flags: []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					ns, err := e.nas(c.Context, nil, false)
					if err != nil {
						return err
					}
					list, err := ns.List(c.Context)
					if err != nil {
						return err
					}
					views := make([]nasView, 0, len(list))
					for _, n := range list {
						views = append(views, viewNAS(n))
					}
					return e.emit(views, func(w io.Writer) {
						line(w, "NAME\tNETWORK\tDAS PORT\tMESSAGE-AUTHENTICATOR\tADDED")
						for _, n := range list {
							ma := "required"
							if n.AllowMissingMessageAuthenticator {
								ma = "NOT REQUIRED (unsafe)"
							}
							line(w, "%s\t%s\t%d\t%s\t%s", n.Name, n.Network, n.DASPort, ma, when(n.CreatedAt))
						}
					})
				}),
			},
			{
				Name:      "remove",
				Usage:     "stop answering an access point",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					if c.NArg() != 1 {
						return fmt.Errorf("nas remove: give exactly one NAME")
					}
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					ns, err := e.nas(c.Context, vs, true)
					if err != nil {
						return err
					}
					if err := ns.Remove(c.Context, e.by, c.Args().First()); err != nil {
						return err
					}
					return e.emit(map[string]string{"removed": c.Args().First()}, func(w io.Writer) {
						line(w, "NAS %q removed.", c.Args().First())
					})
				}),
			},
		},
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// secretFlag reads a secret given as --NAME or --NAME-file (its first line);
// a file keeps it out of ps and the shell history.
func secretFlag(c *cli.Context, name string) (string, error) {
	file := c.String(name + "-file")
	if file == "" {
		return c.String(name), nil
	}
	if c.String(name) != "" {
		return "", fmt.Errorf("give --%s or --%s-file, not both", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--%s-file: %w", name, err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(first, "\r"), nil
}
