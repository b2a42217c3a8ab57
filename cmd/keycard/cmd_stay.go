package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"keycard/vouchers"
)

type stayView struct {
	ID         int64      `json:"id"`
	Room       string     `json:"room"`
	Guest      string     `json:"guest"`
	CheckIn    time.Time  `json:"check_in"`
	CheckOut   time.Time  `json:"check_out"`
	MaxDevices int        `json:"max_devices"`
	Enrolled   *int       `json:"devices_enrolled,omitempty"` // enrolled and not revoked (stay list)
	Policy     string     `json:"policy"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	Voucher    string     `json:"voucher,omitempty"`
}

func viewStay(s vouchers.Stay) stayView {
	return stayView{ID: s.ID, Room: s.Room, Guest: s.GuestName, CheckIn: s.CheckIn, CheckOut: s.CheckOut,
		MaxDevices: s.MaxDevices, Policy: s.Policy, EndedAt: s.EndedAt}
}

func stayCommand() *cli.Command {
	return &cli.Command{
		Name:  "stay",
		Usage: "create, list, show, extend and end guests' stays",
		Subcommands: []*cli.Command{
			{
				Name:  "create",
				Usage: "create a stay and print its voucher code",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "room", Required: true},
					&cli.StringFlag{Name: "guest", Required: true, Usage: "guest's name"},
					&cli.StringFlag{Name: "check-in", Value: "now", Usage: "a time (2026-11-24T15:00) or a duration from now (2h)"},
					&cli.StringFlag{Name: "check-out", Required: true, Usage: "a time (2026-11-26T11:00) or a duration from now (3d, 20s)"},
					&cli.IntFlag{Name: "max-devices", Value: 4},
					&cli.StringFlag{Name: "policy", Value: "standard"},
					jsonFlag,
				},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					now := e.now()
					in, err := parseWhen(c.String("check-in"), now)
					if err != nil {
						return fmt.Errorf("--check-in: %w", err)
					}
					out, err := parseWhen(c.String("check-out"), now)
					if err != nil {
						return fmt.Errorf("--check-out: %w", err)
					}
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					stay, code, err := vs.CreateStay(c.Context, e.by, vouchers.NewStay{
						Room: c.String("room"), GuestName: c.String("guest"), CheckIn: in, CheckOut: out,
						MaxDevices: c.Int("max-devices"), Policy: c.String("policy"),
					})
					if err != nil {
						return err
					}
					v := viewStay(stay)
					v.Voucher = code
					return e.emit(v, func(w io.Writer) {
						line(w, "Stay %d created for %s, room %s, until %s.", stay.ID, stay.GuestName, stay.Room, when(stay.CheckOut))
						line(w, "Voucher code: %s", code)
					})
				}),
			},
			{
				Name:  "list",
				Usage: "list stays (live ones unless --all)",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "include ended stays"}, jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					stays, err := vs.ListStays(c.Context, vouchers.StayFilter{IncludeEnded: c.Bool("all")})
					if err != nil {
						return err
					}
					enrolled, err := vs.EnrolledCounts(c.Context)
					if err != nil {
						return err
					}
					views := make([]stayView, 0, len(stays))
					for _, s := range stays {
						v := viewStay(s)
						n := enrolled[s.ID]
						v.Enrolled = &n
						views = append(views, v)
					}
					return e.emit(views, func(w io.Writer) {
						line(w, "ID\tROOM\tGUEST\tCHECK-IN\tCHECK-OUT\tDEVICES\tPOLICY\tENDED")
						for _, s := range stays {
							// Devices enrolled out of the cap: what a guest can
							// still add is the difference.
							line(w, "%d\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s", s.ID, s.Room, s.GuestName, when(s.CheckIn), when(s.CheckOut),
								enrolled[s.ID], s.MaxDevices, s.Policy, whenPtr(s.EndedAt))
						}
					})
				}),
			},
			{
				Name:      "show",
				Usage:     "show one stay and its devices",
				ArgsUsage: "STAY-ID",
				Flags:     []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					id, err := idArg(c, "STAY-ID")
					if err != nil {
						return err
					}
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					stay, err := vs.Stay(c.Context, id)
					if err != nil {
						return err
					}
					devices, err := vs.Devices(c.Context, id)
					if err != nil {
						return err
					}
					type showView struct {
						stayView
						Devices []deviceView `json:"devices"`
					}
					v := showView{stayView: viewStay(stay), Devices: viewDevices(devices)}
					return e.emit(v, func(w io.Writer) {
						line(w, "Stay %d: %s, room %s, policy %s", stay.ID, stay.GuestName, stay.Room, stay.Policy)
						line(w, "Check-in %s, check-out %s, ended %s", when(stay.CheckIn), when(stay.CheckOut), whenPtr(stay.EndedAt))
						line(w, "Devices (%d of %d):", len(devices), stay.MaxDevices)
						printDevices(w, devices)
					})
				}),
			},
			{
				Name:      "usage",
				Usage:     "what a stay used: sessions, time online, traffic",
				ArgsUsage: "STAY-ID",
				Flags:     []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					id, err := idArg(c, "STAY-ID")
					if err != nil {
						return err
					}
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					stay, err := vs.Stay(c.Context, id)
					if err != nil {
						return err
					}
					st, err := e.sessions(c.Context)
					if err != nil {
						return err
					}
					u, err := st.StayUsage(c.Context, id)
					if err != nil {
						return err
					}
					v := struct {
						Stay          int64  `json:"stay"`
						Sessions      int    `json:"sessions"`
						Online        int    `json:"online"`
						SecondsOnline int64  `json:"seconds_online"`
						InputOctets   uint64 `json:"input_octets"`
						OutputOctets  uint64 `json:"output_octets"`
						InputPackets  uint64 `json:"input_packets"`
						OutputPackets uint64 `json:"output_packets"`
					}{id, u.Sessions, u.Online, int64(u.TimeOnline / time.Second), u.InputOctets, u.OutputOctets, u.InputPackets, u.OutputPackets}
					return e.emit(v, func(w io.Writer) {
						line(w, "Stay %d (%s, room %s): %d session(s), %d online now", stay.ID, stay.GuestName, stay.Room, u.Sessions, u.Online)
						line(w, "Time online %s; from the devices %s (%d packets), to them %s (%d packets)",
							u.TimeOnline.Truncate(time.Second), bytesText(u.InputOctets), u.InputPackets, bytesText(u.OutputOctets), u.OutputPackets)
					})
				}),
			},
			{
				Name:      "extend",
				Usage:     "move a stay's check-out later",
				ArgsUsage: "STAY-ID",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "check-out", Required: true, Usage: "new check-out: a time or a duration from now"}, jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					id, err := idArg(c, "STAY-ID")
					if err != nil {
						return err
					}
					out, err := parseWhen(c.String("check-out"), e.now())
					if err != nil {
						return fmt.Errorf("--check-out: %w", err)
					}
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					stay, err := vs.ExtendStay(c.Context, e.by, id, out)
					if err != nil {
						return err
					}
					devices, err := vs.Devices(c.Context, id)
					if err != nil {
						return err
					}
					return e.emit(viewStay(stay), func(w io.Writer) {
						line(w, "Stay %d now ends %s.", stay.ID, when(stay.CheckOut))
						// A certificate cannot be lengthened (its end is signed
						// into it, and its key lives on the device), but the
						// stay decides: vouchers.Authorize accepts the devices'
						// certificates past their old end while the stay lasts.
						n := 0
						for _, d := range devices {
							if d.RevokedAt == nil {
								n++
							}
						}
						if n > 0 {
							line(w, "Its %d enrolled device(s) keep working until the new check-out; they need not enrol again.", n)
						}
					})
				}),
			},
			{
				Name:      "end",
				Usage:     "check a stay out now; its devices are refused from now on",
				ArgsUsage: "STAY-ID",
				Flags:     []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					id, err := idArg(c, "STAY-ID")
					if err != nil {
						return err
					}
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					stay, err := vs.EndStay(c.Context, e.by, id)
					if err != nil {
						return err
					}
					return e.emit(viewStay(stay), func(w io.Writer) {
						line(w, "Stay %d ended %s.", stay.ID, whenPtr(stay.EndedAt))
					})
				}),
			},
		},
	}
}

func voucherCommand() *cli.Command {
	return &cli.Command{
		Name:  "voucher",
		Usage: "guest voucher codes",
		Subcommands: []*cli.Command{{
			Name:  "reissue",
			Usage: "make a new voucher code for a stay (the old one stops working, a locked voucher is unlocked)",
			Flags: []cli.Flag{&cli.Int64Flag{Name: "stay", Required: true}, jsonFlag},
			Action: withEnv(false, func(c *cli.Context, e *env) error {
				vs, err := e.vouchers(c.Context, false)
				if err != nil {
					return err
				}
				code, err := vs.ReissueVoucher(c.Context, e.by, c.Int64("stay"))
				if err != nil {
					return err
				}
				return e.emit(map[string]any{"stay": c.Int64("stay"), "voucher": code}, func(w io.Writer) {
					line(w, "New voucher code for stay %d: %s", c.Int64("stay"), code)
				})
			}),
		}},
	}
}

// idArg reads the one positional numeric id a command takes.
func idArg(c *cli.Context, name string) (int64, error) {
	if c.NArg() > 1 && strings.HasPrefix(c.Args().Get(1), "-") {
		return 0, fmt.Errorf("%s: flags go before the %s, as in: keycard %s %s %s", c.Command.FullName(), name, c.Command.FullName(), c.Args().Get(1), c.Args().First())
	}
	if c.NArg() != 1 {
		return 0, fmt.Errorf("%s: give exactly one %s", c.Command.FullName(), name)
	}
	id, err := strconv.ParseInt(c.Args().First(), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s: %q is not a valid %s", c.Command.FullName(), c.Args().First(), name)
	}
	return id, nil
}
