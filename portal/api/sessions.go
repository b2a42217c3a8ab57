package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"keycard/sessions"
)

// sessionJSON is an accounting session as the API shows it.
type sessionJSON struct {
	ID                int64      `json:"id"`
	NAS               string     `json:"nas"`
	AcctSessionID     string     `json:"acct_session_id"`
	StayID            *int64     `json:"stay_id"`
	DeviceID          *int64     `json:"device_id"`
	UserName          string     `json:"user_name"`
	CallingStationID  string     `json:"calling_station_id"`
	CalledStationID   string     `json:"called_station_id"`
	FramedIP          *string    `json:"framed_ip"`
	StartedAt         time.Time  `json:"started_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	StoppedAt         *time.Time `json:"stopped_at"`
	Open              bool       `json:"open"`
	Stale             bool       `json:"stale"`
	SessionSeconds    int64      `json:"session_seconds"`
	InputOctets       uint64     `json:"input_octets"`
	OutputOctets      uint64     `json:"output_octets"`
	InputPackets      uint64     `json:"input_packets"`
	OutputPackets     uint64     `json:"output_packets"`
	TerminateCause    string     `json:"terminate_cause"`
	DisconnectAt      *time.Time `json:"disconnect_at"`
	DisconnectOutcome string     `json:"disconnect_outcome"`
}

func optionalID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func optionalAddr(a netip.Addr) *string {
	if !a.IsValid() {
		return nil
	}
	s := a.String()
	return &s
}

func viewSession(s sessions.Session) sessionJSON {
	return sessionJSON{ID: s.ID, NAS: s.NAS, AcctSessionID: s.AcctSessionID, StayID: optionalID(s.StayID),
		DeviceID: optionalID(s.DeviceID), UserName: s.UserName, CallingStationID: s.CallingStationID,
		CalledStationID: s.CalledStationID, FramedIP: optionalAddr(s.FramedIP), StartedAt: s.StartedAt,
		UpdatedAt: s.UpdatedAt, StoppedAt: s.StoppedAt, Open: s.Open(), Stale: s.Stale,
		SessionSeconds: int64(s.SessionTime / time.Second), InputOctets: s.InputOctets, OutputOctets: s.OutputOctets,
		InputPackets: s.InputPackets, OutputPackets: s.OutputPackets, TerminateCause: s.TerminateCause,
		DisconnectAt: s.DisconnectAt, DisconnectOutcome: s.DisconnectOutcome}
}

type sessionsJSON struct {
	Sessions []sessionJSON `json:"sessions"`
}

// maxSessionList caps one answer of GET /sessions.
const maxSessionList = 1000

func idParam(c *call, name string) (int64, error) {
	s := c.r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fail(kindBadRequest, "%s %q must be a positive integer", name, s)
	}
	return id, nil
}

func (h *handler) listSessions(c *call) (*reply, error) {
	stay, err := idParam(c, "stay")
	if err != nil {
		return nil, err
	}
	device, err := idParam(c, "device")
	if err != nil {
		return nil, err
	}
	all, err := boolParam(c, "all")
	if err != nil {
		return nil, err
	}
	list, err := h.sessions.List(c.r.Context(), sessions.Filter{StayID: stay, DeviceID: device, All: all, Limit: maxSessionList})
	if err != nil {
		return nil, err
	}
	out := sessionsJSON{Sessions: make([]sessionJSON, 0, len(list))}
	for _, s := range list {
		out.Sessions = append(out.Sessions, viewSession(s))
	}
	return jsonReply(http.StatusOK, out)
}

// kickJSON is the answer to a kick.
type kickJSON struct {
	Session    sessionJSON `json:"session"`
	Outcome    string      `json:"outcome"`
	ErrorCause int         `json:"error_cause,omitempty"`
	Attempts   int         `json:"attempts"`
}

const maxKickReason = 200

func (h *handler) kickSession(c *call) (*reply, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(in.Reason)
	if len(reason) > maxKickReason || strings.ContainsFunc(reason, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, fail(kindInvalid, "reason must be at most %d characters without control characters", maxKickReason)
	}
	ctx := c.r.Context()
	sess, err := h.sessions.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !sess.Open() {
		return nil, fail(kindConflict, "session %d is already closed", id)
	}
	res, kerr := h.kicker.Kick(ctx, sess, KickReason)
	detail := fmt.Sprintf("nas=%s stay=%d device=%d outcome=%s attempts=%d", sess.NAS, sess.StayID, sess.DeviceID, res.Outcome, res.Attempts)
	if reason != "" {
		detail += fmt.Sprintf(" reason=%q", reason)
	}
	if kerr != nil {
		h.log.Warn("api: kick failed", "session", id, "err", kerr)
		detail += " (not confirmed)"
	}
	if err := h.hotel.Audit(ctx, c.by, "session.kick", fmt.Sprintf("session:%d", id), detail); err != nil {
		return nil, err
	}
	if kerr != nil {
		return nil, fail(kindNASFailed, "the disconnect for session %d was not confirmed (outcome %s); the access point may be unreachable", id, orNone(res.Outcome))
	}
	if after, err := h.sessions.Get(ctx, id); err == nil {
		sess = after
	}
	return jsonReply(http.StatusOK, kickJSON{Session: viewSession(sess), Outcome: res.Outcome, ErrorCause: res.ErrorCause, Attempts: res.Attempts})
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
