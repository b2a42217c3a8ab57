package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"keycard/staff"
)

type tokenView struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	Token      string     `json:"token,omitempty"` // only from token add, once
}

func viewToken(t staff.Token) tokenView {
	v := tokenView{ID: t.ID, Name: t.Name, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt,
		Scopes: []string{}}
	for _, s := range t.Scopes {
		v.Scopes = append(v.Scopes, string(s))
	}
	return v
}

func scopeNames() string {
	var names []string
	for _, s := range staff.Scopes() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "API tokens for the property-management system (REST API, Authorization: Bearer)",
		Subcommands: []*cli.Command{
			{
				Name:  "add",
				Usage: "make a named, scoped API token; it is shown once and only its hash is kept",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Required: true, Usage: "`NAME` of the token in lists and the audit log, like opera-pms"},
					&cli.StringSliceFlag{Name: "scope", Required: true, Usage: "what it may do, repeated or comma-separated: " + scopeNames()},
					jsonFlag,
				},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					var scopes []staff.Scope
					for _, s := range c.StringSlice("scope") {
						for _, part := range strings.Split(s, ",") {
							sc, err := staff.ParseScope(part)
							if err != nil {
								return fmt.Errorf("--scope: %w", err)
							}
							scopes = append(scopes, sc)
						}
					}
					ss, err := e.staffStore(c.Context)
					if err != nil {
						return err
					}
					t, text, err := ss.AddToken(c.Context, e.by, c.String("name"), scopes)
					if err != nil {
						return err
					}
					v := viewToken(t)
					v.Token = text
					return e.emit(v, func(w io.Writer) {
						line(w, "API token %q added with scopes %s.", t.Name, strings.Join(v.Scopes, ", "))
						line(w, "Token (shown once, stored hashed; send it only as the header Authorization: Bearer <token>):")
						line(w, "%s", text)
					})
				}),
			},
			{
				Name:  "list",
				Usage: "list API tokens (never the tokens themselves)",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "include revoked tokens"}, jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					ss, err := e.staffStore(c.Context)
					if err != nil {
						return err
					}
					list, err := ss.Tokens(c.Context, c.Bool("all"))
					if err != nil {
						return err
					}
					views := make([]tokenView, 0, len(list))
					for _, t := range list {
						views = append(views, viewToken(t))
					}
					return e.emit(views, func(w io.Writer) {
						line(w, "NAME\tSCOPES\tCREATED BY\tCREATED\tLAST USED\tREVOKED")
						for _, v := range views {
							line(w, "%s\t%s\t%s\t%s\t%s\t%s", v.Name, strings.Join(v.Scopes, ","), v.CreatedBy, when(v.CreatedAt),
								whenPtr(v.LastUsedAt), whenPtr(v.RevokedAt))
						}
					})
				}),
			},
			{
				Name:      "revoke",
				Usage:     "stop an API token at once",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					name, err := nameArg(c)
					if err != nil {
						return err
					}
					ss, err := e.staffStore(c.Context)
					if err != nil {
						return err
					}
					t, err := ss.RevokeToken(c.Context, e.by, name)
					if err != nil {
						return err
					}
					return e.emit(viewToken(t), func(w io.Writer) {
						line(w, "API token %q revoked; it stops working at once.", t.Name)
					})
				}),
			},
		},
	}
}
