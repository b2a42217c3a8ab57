package main

import (
	"io"

	"github.com/urfave/cli/v2"
)

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "the tamper-evident log of every staff and admin change",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "show the newest entries",
				Flags: []cli.Flag{&cli.IntFlag{Name: "limit", Value: 50}, jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					entries, err := vs.AuditLog(c.Context, c.Int("limit"))
					if err != nil {
						return err
					}
					return e.emit(entries, func(w io.Writer) {
						line(w, "ID\tWHEN\tWHO\tFROM\tACTION\tSUBJECT\tDETAIL")
						for _, a := range entries {
							line(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s", a.ID, when(a.At), a.Actor, a.Source, a.Action, a.Subject, a.Detail)
						}
					})
				}),
			},
			{
				Name:  "verify",
				Usage: "check the hash chain: finds an edited, deleted or reordered entry",
				Flags: []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					vs, err := e.vouchers(c.Context, false)
					if err != nil {
						return err
					}
					if err := vs.VerifyAudit(c.Context); err != nil {
						return err
					}
					count, head, err := vs.AuditHead(c.Context)
					if err != nil {
						return err
					}
					// The head is what an admin keeps elsewhere: the chain
					// proves the rows agree with it, not that nothing was
					// cut from the end together with it.
					return e.emit(map[string]any{"audit": "intact", "entries": count, "head": head}, func(w io.Writer) {
						line(w, "Audit log intact: %d entries, head %s.", count, head)
					})
				}),
			},
		},
	}
}
