package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/urfave/cli/v2"

	"keycard/webhooks"
)

func webhookCommand() *cli.Command {
	return &cli.Command{
		Name:  "webhook",
		Usage: "events sent to the hotel's other systems: delivered, pending, failed",
		Subcommands: []*cli.Command{
			{
				Name:  "deliveries",
				Usage: "show each event's delivery to each endpoint, newest first",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "state", Usage: "only pending, delivered or failed deliveries"},
					&cli.IntFlag{Name: "limit", Value: 50, Usage: "show the newest `N` (0: all)"},
					jsonFlag,
				},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					state := c.String("state")
					switch state {
					case "", webhooks.StatePending, webhooks.StateDelivered, webhooks.StateFailed:
					default:
						return fmt.Errorf("--state %q: use %s, %s or %s", state, webhooks.StatePending, webhooks.StateDelivered, webhooks.StateFailed)
					}
					list, err := webhooks.ListDeliveries(c.Context, e.db, webhooks.DeliveryFilter{State: state, Limit: c.Int("limit")})
					if err != nil {
						return err
					}
					return e.emit(list, func(w io.Writer) {
						if len(list) == 0 {
							if len(e.cfg.Webhooks) == 0 {
								line(w, "No webhooks are configured (see webhooks: in the config), and the outbox is empty.")
							} else {
								line(w, "No deliveries yet.")
							}
							return
						}
						line(w, "EVENT\tTYPE\tENDPOINT\tSTATE\tATTEMPTS\tLAST TRY\tNEXT TRY\tLAST ANSWER")
						for _, d := range list {
							line(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s", d.EventID, d.Type, d.Endpoint, d.State, d.Attempts,
								whenPtr(d.LastAttemptAt), whenPtr(d.NextAttemptAt), lastAnswer(d))
						}
					})
				}),
			},
		},
	}
}

// lastAnswer is how a delivery's last attempt went, for people.
func lastAnswer(d webhooks.Delivery) string {
	switch {
	case d.LastError != "":
		return d.LastError
	case d.LastStatus != 0:
		return "HTTP " + strconv.Itoa(d.LastStatus)
	}
	return "-"
}
