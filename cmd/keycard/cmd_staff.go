package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"keycard/staff"
)

// staffStore builds the staff account store. The CLI never touches a TOTP
// secret (setting one up happens at the holder's first login), so it needs
// no passphrase.
func (e *env) staffStore(ctx context.Context) (*staff.Store, error) {
	vs, err := e.vouchers(ctx, false)
	if err != nil {
		return nil, err
	}
	return staff.New(e.db, staff.Options{Audit: vs, Now: e.now, Logger: e.log})
}

type staffView struct {
	ID                 int64      `json:"id"`
	Name               string     `json:"name"`
	Role               string     `json:"role"`
	TOTPEnrolled       bool       `json:"totp_enrolled"`
	RecoveryCodesLeft  int        `json:"recovery_codes_left"`
	MustChangePassword bool       `json:"must_change_password"`
	LockedUntil        *time.Time `json:"locked_until,omitempty"`
	LockReason         string     `json:"lock_reason,omitempty"`
	DisabledAt         *time.Time `json:"disabled_at,omitempty"`
	LastLoginAt        *time.Time `json:"last_login_at,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
	Password           string     `json:"password,omitempty"` // a generated one, shown once
}

func viewStaff(a staff.Account, now time.Time) staffView {
	v := staffView{ID: a.ID, Name: a.Name, Role: string(a.Role), TOTPEnrolled: a.TOTPEnrolled,
		RecoveryCodesLeft: a.RecoveryCodesLeft, MustChangePassword: a.MustChangePassword,
		DisabledAt: a.DisabledAt, LastLoginAt: a.LastLoginAt, CreatedAt: a.CreatedAt}
	if a.Locked(now) {
		v.LockedUntil, v.LockReason = a.LockedUntil, a.LockReason
	}
	return v
}

// staffStatus says in a few words whether the account can log in.
func staffStatus(a staff.Account, now time.Time) string {
	switch {
	case a.DisabledAt != nil:
		return "disabled since " + when(*a.DisabledAt)
	case a.Locked(now):
		return fmt.Sprintf("locked until %s (%s)", when(*a.LockedUntil), a.LockReason)
	case !a.TOTPEnrolled:
		return "sets up TOTP at next login"
	case a.MustChangePassword:
		return "must change password"
	}
	return "active"
}

func staffCommand() *cli.Command {
	return &cli.Command{
		Name:  "staff",
		Usage: "front-desk and admin accounts for the web app (password + TOTP)",
		Subcommands: []*cli.Command{
			{
				Name:  "add",
				Usage: "add an account; a strong password is generated unless given, and shown once; TOTP is set up at the first login",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Required: true, Usage: "login `NAME`: lowercase letters, digits, '.', '_', '-'"},
					&cli.StringFlag{Name: "role", Required: true, Usage: "front_desk (stays, devices, sessions, vouchers) or admin (also NAS, staff, tokens, policies, audit)"},
					&cli.StringFlag{Name: "password-file", Usage: "read the first password from `FILE` (its first line; - for standard input) instead of generating one"},
					jsonFlag,
				},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					role, err := staff.ParseRole(c.String("role"))
					if err != nil {
						return fmt.Errorf("--role: %w", err)
					}
					password, err := passwordFile(c)
					if err != nil {
						return err
					}
					ss, err := e.staffStore(c.Context)
					if err != nil {
						return err
					}
					a, generated, err := ss.Add(c.Context, e.by, staff.NewAccount{Name: c.String("name"), Role: role, Password: password})
					if err != nil {
						return err
					}
					v := viewStaff(a, e.now())
					v.Password = generated
					return e.emit(v, func(w io.Writer) {
						line(w, "Staff account %q added (%s).", a.Name, a.Role)
						if generated != "" {
							line(w, "Password (shown once; hand it over in person): %s", generated)
						}
						line(w, "At the first login %s sets up an authenticator app (TOTP) and is asked to change the password.", a.Name)
					})
				}),
			},
			{
				Name:  "list",
				Usage: "list accounts (no password or secret is ever shown)",
				Flags: []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					ss, err := e.staffStore(c.Context)
					if err != nil {
						return err
					}
					list, err := ss.Accounts(c.Context)
					if err != nil {
						return err
					}
					now := e.now()
					views := make([]staffView, 0, len(list))
					for _, a := range list {
						views = append(views, viewStaff(a, now))
					}
					return e.emit(views, func(w io.Writer) {
						line(w, "NAME\tROLE\tTOTP\tRECOVERY CODES\tSTATUS\tLAST LOGIN\tADDED")
						for _, a := range list {
							totp := "no"
							if a.TOTPEnrolled {
								totp = "yes"
							}
							line(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s", a.Name, a.Role, totp, a.RecoveryCodesLeft, staffStatus(a, now),
								whenPtr(a.LastLoginAt), when(a.CreatedAt))
						}
					})
				}),
			},
			{
				Name:      "disable",
				Usage:     "stop an account at once: its sessions end and it cannot log in",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{jsonFlag},
				Action: staffChange("disable", func(c *cli.Context, ss *staff.Store, e *env, name string) (staff.Account, string, error) {
					a, err := ss.Disable(c.Context, e.by, name)
					return a, fmt.Sprintf("Account %q disabled; its sessions ended. `keycard staff enable %s` lets it back.", a.Name, a.Name), err
				}),
			},
			{
				Name:      "enable",
				Usage:     "let a disabled account log in again",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{jsonFlag},
				Action: staffChange("enable", func(c *cli.Context, ss *staff.Store, e *env, name string) (staff.Account, string, error) {
					a, err := ss.Enable(c.Context, e.by, name)
					return a, fmt.Sprintf("Account %q enabled.", a.Name), err
				}),
			},
			{
				Name:      "set-role",
				Usage:     "change an account's role; its open sessions get the new role at their next request",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "role", Required: true, Usage: "front_desk or admin"}, jsonFlag},
				Action: staffChange("set-role", func(c *cli.Context, ss *staff.Store, e *env, name string) (staff.Account, string, error) {
					role, err := staff.ParseRole(c.String("role"))
					if err != nil {
						return staff.Account{}, "", fmt.Errorf("--role: %w", err)
					}
					a, err := ss.SetRole(c.Context, e.by, name, role)
					return a, fmt.Sprintf("Account %q is now %s.", a.Name, a.Role), err
				}),
			},
			{
				Name:      "reset-password",
				Usage:     "give an account a new password (generated unless given, shown once); ends its sessions and lifts a lock",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "password-file", Usage: "read the new password from `FILE` (its first line; - for standard input)"},
					jsonFlag,
				},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					name, err := nameArg(c)
					if err != nil {
						return err
					}
					password, err := passwordFile(c)
					if err != nil {
						return err
					}
					ss, err := e.staffStore(c.Context)
					if err != nil {
						return err
					}
					generated, err := ss.ResetPassword(c.Context, e.by, name, password)
					if err != nil {
						return err
					}
					a, err := ss.Account(c.Context, name)
					if err != nil {
						return err
					}
					v := viewStaff(a, e.now())
					v.Password = generated
					return e.emit(v, func(w io.Writer) {
						line(w, "Password of %q reset; its sessions ended and any lock is lifted.", a.Name)
						if generated != "" {
							line(w, "New password (shown once; hand it over in person): %s", generated)
						}
						line(w, "%s is asked to change it at the next login.", a.Name)
					})
				}),
			},
			{
				Name:      "reset-2fa",
				Usage:     "remove an account's TOTP and recovery codes (a lost phone); ends its sessions; TOTP is set up again at the next login",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{jsonFlag},
				Action: staffChange("reset-2fa", func(c *cli.Context, ss *staff.Store, e *env, name string) (staff.Account, string, error) {
					a, err := ss.ResetTOTP(c.Context, e.by, name)
					return a, fmt.Sprintf("TOTP of %q removed; its sessions ended. Until %s logs in and sets up a new app, the password alone opens the account: "+
						"be there when it happens, and reset the password too if someone else may know it.", a.Name, a.Name), err
				}),
			},
		},
	}
}

// staffChange is the body of the commands that take one account NAME and
// print the account.
func staffChange(cmd string, change func(c *cli.Context, ss *staff.Store, e *env, name string) (staff.Account, string, error)) cli.ActionFunc {
	return withEnv(false, func(c *cli.Context, e *env) error {
		name, err := nameArg(c)
		if err != nil {
			return err
		}
		ss, err := e.staffStore(c.Context)
		if err != nil {
			return err
		}
		a, text, err := change(c, ss, e, name)
		if err != nil {
			return err
		}
		return e.emit(viewStaff(a, e.now()), func(w io.Writer) { line(w, "%s", text) })
	})
}

// nameArg is the one NAME a command takes.
func nameArg(c *cli.Context) (string, error) {
	cmd := commandPath(c)
	if c.NArg() > 1 && strings.HasPrefix(c.Args().Get(1), "-") {
		return "", fmt.Errorf("%s: flags go before the NAME, as in: keycard %s %s %s", cmd, cmd, c.Args().Get(1), c.Args().First())
	}
	if c.NArg() != 1 {
		return "", fmt.Errorf("%s: give exactly one NAME", cmd)
	}
	return c.Args().First(), nil
}

// passwordFile reads --password-file: its first line, or standard input's
// for "-". A password never goes on the command line (ps, shell history).
func passwordFile(c *cli.Context) (string, error) {
	path := c.String("password-file")
	if path == "" {
		return "", nil
	}
	var r io.Reader
	if path == "-" {
		r = c.App.Reader
		if r == nil {
			r = os.Stdin
		}
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	first, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	first = strings.TrimRight(first, "\r\n")
	if first == "" {
		return "", fmt.Errorf("--password-file %s: the first line is empty", path)
	}
	return first, nil
}
