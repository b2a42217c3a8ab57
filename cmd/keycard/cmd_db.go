package main

import (
	"io"

	"github.com/urfave/cli/v2"

	"keycard/internal/store"
)

func dbCommand() *cli.Command {
	return &cli.Command{
		Name:  "db",
		Usage: "the database: migrate, check, back up",
		Subcommands: []*cli.Command{
			{
				Name:  "migrate",
				Usage: "bring the schema up to date",
				Flags: []cli.Flag{jsonFlag},
				Action: withEnv(true, func(c *cli.Context, e *env) error {
					return e.emit(map[string]string{"database": e.cfg.Database.Path, "schema": "current"}, func(w io.Writer) {
						line(w, "Database %s is up to date.", e.cfg.Database.Path)
					})
				}),
			},
			{
				Name:  "check",
				Usage: "check the schema version and the database's integrity",
				Flags: []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					if err := store.IntegrityCheck(c.Context, e.db); err != nil {
						return err
					}
					return e.emit(map[string]string{"database": e.cfg.Database.Path, "integrity": "ok"}, func(w io.Writer) {
						line(w, "Database %s: schema current, integrity ok.", e.cfg.Database.Path)
					})
				}),
			},
			{
				Name:      "backup",
				Usage:     "write a consistent copy of the live database (restore: stop keycard, copy the file back)",
				ArgsUsage: "FILE",
				Flags:     []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					if c.NArg() != 1 {
						return cli.Exit("db backup: give the destination FILE", 1)
					}
					dest := c.Args().First()
					if err := store.Backup(c.Context, e.db, dest); err != nil {
						return err
					}
					if err := e.audit(c.Context, "db.backup", "db", "backup written to "+dest); err != nil {
						return err
					}
					return e.emit(map[string]string{"backup": dest}, func(w io.Writer) {
						line(w, "Backup written to %s.", dest)
					})
				}),
			},
		},
	}
}
