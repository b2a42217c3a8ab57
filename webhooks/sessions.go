package webhooks

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Session is an accounting session as session events show it.
type Session struct {
	ID               int64      `json:"id"`
	StayID           int64      `json:"stay_id"`   // 0: not tied to a stay
	DeviceID         int64      `json:"device_id"` // 0: not tied to a device
	NAS              string     `json:"nas"`
	AcctSessionID    string     `json:"acct_session_id"`
	CallingStationID string     `json:"calling_station_id"` // the device's MAC, as the NAS wrote it
	StartedAt        time.Time  `json:"started_at"`
	StoppedAt        *time.Time `json:"stopped_at"`
	SessionSeconds   int64      `json:"session_seconds"`
	InputOctets      int64      `json:"input_octets"`
	OutputOctets     int64      `json:"output_octets"`
	TerminateCause   string     `json:"terminate_cause"`
}

// Sessions is what the Feed reads of the accounting sessions. Session ids
// must grow in commit order (SQLite's INTEGER PRIMARY KEY under its single
// writer does; a PostgreSQL backend would follow a commit-ordered column
// instead). SessionsTable is the SQL one.
type Sessions interface {
	// SessionsAfter returns up to limit sessions with an id above afterID,
	// by id.
	SessionsAfter(ctx context.Context, afterID int64, limit int) ([]Session, error)
	// SessionsByID returns the named sessions as they are now; an unknown
	// id is left out.
	SessionsByID(ctx context.Context, ids []int64) ([]Session, error)
	// LastSessionID is the highest session id, 0 when there is none.
	LastSessionID(ctx context.Context) (int64, error)
}

// SessionsTable reads the sessions table of package sessions, read-only,
// through these columns: id, stay_id, device_id, nas, acct_session_id,
// calling_station_id, started_at, stopped_at, session_time, input_octets,
// output_octets, terminate_cause. It is the one place outside that package
// that knows its schema; when package sessions offers these queries
// itself, cmd passes that instead and this goes.
type SessionsTable struct{ DB *sql.DB }

var _ Sessions = SessionsTable{}

const sessionColumns = `id, stay_id, device_id, nas, acct_session_id, calling_station_id,
	started_at, stopped_at, session_time, input_octets, output_octets, terminate_cause`

func (t SessionsTable) SessionsAfter(ctx context.Context, afterID int64, limit int) ([]Session, error) {
	return t.query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
}

// maxIDsPerQuery keeps SessionsByID under SQLite's oldest limit of 999
// parameters.
const maxIDsPerQuery = 500

func (t SessionsTable) SessionsByID(ctx context.Context, ids []int64) ([]Session, error) {
	var out []Session
	for len(ids) > 0 {
		n := min(len(ids), maxIDsPerQuery)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		got, err := t.query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id IN (?`+strings.Repeat(", ?", n-1)+`) ORDER BY id`, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
		ids = ids[n:]
	}
	return out, nil
}

func (t SessionsTable) LastSessionID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if err := t.DB.QueryRowContext(ctx, `SELECT MAX(id) FROM sessions`).Scan(&id); err != nil {
		return 0, fmt.Errorf("webhooks: last session: %w", err)
	}
	return id.Int64, nil
}

func (t SessionsTable) query(ctx context.Context, q string, args ...any) ([]Session, error) {
	rows, err := t.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("webhooks: read sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var s Session
		var stay, device, stopped sql.NullInt64
		var started, secs int64
		if err := rows.Scan(&s.ID, &stay, &device, &s.NAS, &s.AcctSessionID, &s.CallingStationID,
			&started, &stopped, &secs, &s.InputOctets, &s.OutputOctets, &s.TerminateCause); err != nil {
			return nil, fmt.Errorf("webhooks: read sessions: %w", err)
		}
		s.StayID, s.DeviceID = stay.Int64, device.Int64
		s.StartedAt, s.StoppedAt = fromDB(started), fromNull(stopped)
		s.SessionSeconds = int64(time.Duration(secs) / time.Second)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhooks: read sessions: %w", err)
	}
	return out, nil
}
