package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newApp().RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "keycard: %v\n", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "keycard",
		Usage: "certificate-gated hotel Wi-Fi: RADIUS server and front-desk admin",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, EnvVars: []string{"KEYCARD_CONFIG"}, Usage: "config `FILE`"},
			&cli.StringFlag{Name: "as", EnvVars: []string{"KEYCARD_ACTOR"}, Usage: "who is acting, for the audit log (default admin:<os user>)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print the structured log lines of an admin command (serve always logs)"},
		},
		Commands: []*cli.Command{
			serveCommand(),
			stayCommand(),
			deviceCommand(),
			voucherCommand(),
			sessionCommand(),
			nasCommand(),
			caCommand(),
			dbCommand(),
			auditCommand(),
			staffCommand(),
			tokenCommand(),
			webhookCommand(),
			benchCommand(),
		},
		HideHelpCommand: true,
		// Errors are printed once by main, as one line.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

// jsonFlag is added to every listing and every command that creates
// something, so scripts get ids, codes and paths.
var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"}

// withEnv opens the env for a command body and closes it after.
func withEnv(migrate bool, body func(c *cli.Context, e *env) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		e, err := openEnv(c, migrate)
		if err != nil {
			return err
		}
		defer e.Close()
		return body(c, e)
	}
}
