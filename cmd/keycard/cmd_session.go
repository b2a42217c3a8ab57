package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"keycard/radiusd"
	"keycard/sessions"
)

// sessionView is a session as `session list --json` prints it.
type sessionView struct {
	ID                int64      `json:"id"`
	AcctSessionID     string     `json:"acct_session_id"`
	Stay              int64      `json:"stay"`   // 0: not tied to a stay
	Device            int64      `json:"device"` // 0: not tied to a device
	NAS               string     `json:"nas"`
	UserName          string     `json:"user_name"`
	CallingStationID  string     `json:"calling_station_id"`
	FramedIP          string     `json:"framed_ip"`
	NASAddress        string     `json:"nas_address"`
	NASIdentifier     string     `json:"nas_identifier,omitempty"`
	StartedAt         time.Time  `json:"started_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	StoppedAt         *time.Time `json:"stopped_at"`
	SessionSeconds    int64      `json:"session_seconds"`
	InputOctets       uint64     `json:"input_octets"`
	OutputOctets      uint64     `json:"output_octets"`
	InputPackets      uint64     `json:"input_packets"`
	OutputPackets     uint64     `json:"output_packets"`
	TerminateCause    string     `json:"terminate_cause"`
	Stale             bool       `json:"stale"`
	DisconnectAt      *time.Time `json:"disconnect_at,omitempty"`
	DisconnectOutcome string     `json:"disconnect_outcome,omitempty"`
}

func viewSession(s sessions.Session) sessionView {
	v := sessionView{
		ID: s.ID, AcctSessionID: s.AcctSessionID, Stay: s.StayID, Device: s.DeviceID, NAS: s.NAS,
		UserName: s.UserName, CallingStationID: s.CallingStationID, NASIdentifier: s.NASIdentifier,
		StartedAt: s.StartedAt, UpdatedAt: s.UpdatedAt, StoppedAt: s.StoppedAt,
		SessionSeconds: int64(s.SessionTime / time.Second),
		InputOctets:    s.InputOctets, OutputOctets: s.OutputOctets, InputPackets: s.InputPackets, OutputPackets: s.OutputPackets,
		TerminateCause: s.TerminateCause, Stale: s.Stale, DisconnectAt: s.DisconnectAt, DisconnectOutcome: s.DisconnectOutcome,
	}
	if s.FramedIP.IsValid() {
		v.FramedIP = s.FramedIP.String()
	}
	if s.NASAddress.IsValid() {
		v.NASAddress = s.NASAddress.String()
	}
	return v
}

func sessionCommand() *cli.Command {
	return &cli.Command{
		Name:  "session",
		Usage: "who is online: accounting sessions, their usage, and disconnecting one",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list sessions (open ones unless --all)",
				Flags: []cli.Flag{
					&cli.Int64Flag{Name: "stay", Usage: "only this stay's sessions"},
					&cli.BoolFlag{Name: "all", Usage: "include closed sessions"},
					jsonFlag,
				},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					st, err := e.sessions(c.Context)
					if err != nil {
						return err
					}
					list, err := st.List(c.Context, sessions.Filter{StayID: c.Int64("stay"), All: c.Bool("all")})
					if err != nil {
						return err
					}
					views := make([]sessionView, 0, len(list))
					for _, s := range list {
						views = append(views, viewSession(s))
					}
					return e.emit(views, func(w io.Writer) {
						line(w, "ID\tSTAY\tDEVICE\tNAS\tSTATION\tADDRESS\tSTARTED\tSTOPPED\tIN\tOUT\tCAUSE")
						for _, v := range views {
							line(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", v.ID, orDash(v.Stay), orDash(v.Device), v.NAS,
								v.CallingStationID, dash(v.FramedIP), when(v.StartedAt), stoppedText(v), bytesText(v.InputOctets),
								bytesText(v.OutputOctets), dash(v.TerminateCause))
						}
					})
				}),
			},
			{
				Name:      "show",
				Usage:     "show one session",
				ArgsUsage: "SESSION-ID",
				Flags:     []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					s, err := sessionArg(c, e)
					if err != nil {
						return err
					}
					v := viewSession(s)
					return e.emit(v, func(w io.Writer) {
						line(w, "Session %d at NAS %s (Acct-Session-Id %s)", v.ID, v.NAS, v.AcctSessionID)
						line(w, "Stay %s, device %s, user %s, station %s, address %s", orDash(v.Stay), orDash(v.Device),
							dash(v.UserName), dash(v.CallingStationID), dash(v.FramedIP))
						line(w, "Started %s, last heard %s, stopped %s (%s)", when(v.StartedAt), when(v.UpdatedAt), stoppedText(v), dash(v.TerminateCause))
						line(w, "Online %s; in %s (%d packets), out %s (%d packets)", (time.Duration(v.SessionSeconds) * time.Second).String(),
							bytesText(v.InputOctets), v.InputPackets, bytesText(v.OutputOctets), v.OutputPackets)
						if v.DisconnectAt != nil {
							line(w, "Disconnect sent %s: %s", whenPtr(v.DisconnectAt), v.DisconnectOutcome)
						}
					})
				}),
			},
			{
				Name:      "kick",
				Usage:     "ask the access point to drop one session now (RFC 5176 Disconnect-Request)",
				ArgsUsage: "SESSION-ID",
				Flags:     []cli.Flag{jsonFlag},
				Action: withEnv(false, func(c *cli.Context, e *env) error {
					s, err := sessionArg(c, e)
					if err != nil {
						return err
					}
					id := s.ID
					if !s.Open() {
						return fmt.Errorf("session %d is already closed (%s at %s); nothing to disconnect", id, dash(s.TerminateCause), whenPtr(s.StoppedAt))
					}
					enf, err := e.enforcer(c.Context, prometheus.NewRegistry())
					if err != nil {
						return err
					}
					res, kickErr := enf.Kick(c.Context, s, "kicked by staff")
					detail := fmt.Sprintf("nas=%s acct_session_id=%q outcome=%s attempts=%d", s.NAS, s.AcctSessionID, res.Outcome, res.Attempts)
					if err := e.audit(c.Context, "session.kick", "session:"+strconv.FormatInt(id, 10), detail); err != nil {
						return err
					}
					if kickErr != nil && res.Outcome == "" {
						return kickErr
					}
					out := map[string]any{"session": id, "outcome": string(res.Outcome), "attempts": res.Attempts}
					return e.emit(out, func(w io.Writer) {
						switch res.Outcome {
						case radiusd.DASAck:
							line(w, "Session %d: the access point %s dropped it.", id, s.NAS)
						case radiusd.DASNotFound:
							line(w, "Session %d: the access point %s no longer had it; marked closed.", id, s.NAS)
						default:
							line(w, "Session %d: the access point %s did not drop it (%s after %d attempts).", id, s.NAS, res.Outcome, res.Attempts)
						}
					})
				}),
			},
		},
	}
}

// sessionArg reads the SESSION-ID a command takes and finds the session.
func sessionArg(c *cli.Context, e *env) (sessions.Session, error) {
	id, err := idArg(c, "SESSION-ID")
	if err != nil {
		return sessions.Session{}, err
	}
	st, err := e.sessions(c.Context)
	if err != nil {
		return sessions.Session{}, err
	}
	return st.Get(c.Context, id)
}

// enforcer builds the disconnecting side of serve for a command that sends
// Disconnect-Requests itself (session kick): it needs the NAS secrets, so
// the CA passphrase.
func (e *env) enforcer(c context.Context, reg prometheus.Registerer) (*radiusd.Enforcer, error) {
	vs, err := e.vouchers(c, false)
	if err != nil {
		return nil, err
	}
	nas, err := e.nas(c, vs, true)
	if err != nil {
		return nil, err
	}
	if err := nas.Reload(c); err != nil {
		return nil, err
	}
	st, err := e.sessions(c)
	if err != nil {
		return nil, err
	}
	das, err := e.dasClient(reg)
	if err != nil {
		return nil, err
	}
	return radiusd.NewEnforcer(radiusd.EnforcerConfig{
		Hotel: vs, Sessions: st, NAS: nas, DAS: das,
		MaxSessionTimeout: maxSessionTimeout(e.cfg.RADIUS.MaxSessionTimeout.Duration),
		Now:               e.now, Logger: e.log, Registry: reg,
	})
}

func orDash(id int64) string {
	if id == 0 {
		return "-"
	}
	return strconv.FormatInt(id, 10)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stoppedText(v sessionView) string {
	if v.StoppedAt != nil {
		return whenPtr(v.StoppedAt)
	}
	if v.Stale {
		return "open (stale: no update for two interim intervals)"
	}
	return "open"
}

// bytesText writes an octet count for people (1000-based, as ISPs bill).
func bytesText(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// maxSessionTimeout maps the config's "0s" (no cap) to radiusd's
// "negative means none"; radiusd reads zero as "use the default".
func maxSessionTimeout(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
