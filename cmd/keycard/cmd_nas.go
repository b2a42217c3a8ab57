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
	DASAddress                       string    `json:"das_address"` // "" = the accounting source
	Profile                          string    `json:"profile"`
	CoA                              bool      `json:"coa"`
	CoAPort                          int       `json:"coa_port"` // 0 = the profile's choice
	AllowMissingMessageAuthenticator bool      `json:"allow_missing_message_authenticator"`
	CreatedAt                        time.Time `json:"created_at"`
	Secret                           string    `json:"secret,omitempty"`
}

func viewNAS(n radiusd.NAS) nasView {
	v := nasView{ID: n.ID, Name: n.Name, Network: n.Network.String(), DASPort: n.DASPort,
		Profile: n.Profile, CoA: n.CoA, CoAPort: n.CoAPort,
		AllowMissingMessageAuthenticator: n.AllowMissingMessageAuthenticator, CreatedAt: n.CreatedAt}
	if n.DASAddress.IsValid() {
		v.DASAddress = n.DASAddress.String()
	}
	return v
}

// dasTo says where a NAS's Disconnect-Requests go, for the text output.
func dasTo(n radiusd.NAS) string {
	if n.DASAddress.IsValid() {
		return netip.AddrPortFrom(n.DASAddress, uint16(n.DASPort)).String()
	}
	return fmt.Sprintf("accounting source, port %d", n.DASPort)
}

// coaText says whether and where a NAS takes CoA, for the text output.
func coaText(n radiusd.NAS) string {
	switch {
	case !n.CoA:
		return "no"
	case n.CoAPort != 0:
		return fmt.Sprintf("port %d", n.CoAPort)
	}
	return "profile's port"
}

// parseDASAddress reads --das-address: empty for the accounting source.
func parseDASAddress(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--das-address: %q is not an IP address (like 10.20.0.2)", s)
	}
	return a, nil
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
					&cli.StringFlag{Name: "das-address", Usage: "send Disconnect/CoA to this `ADDRESS` (a controller) instead of the address the session's accounting came from"},
					&cli.StringFlag{Name: "profile", Value: radiusd.DefaultProfile, Usage: "how this NAS wants Disconnect/CoA and VLAN/bandwidth attributes: " + strings.Join(radiusd.Profiles(), ", ")},
					&cli.BoolFlag{Name: "coa", Usage: "the NAS accepts CoA-Request (a new Session-Timeout when a stay is extended); many APs honour only Disconnect"},
					&cli.IntFlag{Name: "coa-port", Usage: "the NAS's `PORT` for CoA-Request (default: the profile's, 1700 for cisco-wlc and meraki, else --das-port)"},
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
					dasAddress, err := parseDASAddress(c.String("das-address"))
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
						DASAddress: dasAddress, Profile: c.String("profile"), CoA: c.Bool("coa"), CoAPort: c.Int("coa-port"),
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
						line(w, "NAS %q added for %s (profile %s; Disconnect to %s; CoA: %s).", n.Name, n.Network, n.Profile, dasTo(n), coaText(n))
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
						line(w, "NAME\tNETWORK\tDISCONNECT TO\tPROFILE\tCOA\tMESSAGE-AUTHENTICATOR\tADDED")
						for _, n := range list {
							ma := "required"
							if n.AllowMissingMessageAuthenticator {
								ma = "NOT REQUIRED (unsafe)"
							}
							line(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s", n.Name, n.Network, dasTo(n), n.Profile, coaText(n), ma, when(n.CreatedAt))
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
