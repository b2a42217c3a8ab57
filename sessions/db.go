package sessions

import (
	"database/sql"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// columns are a session row in the order scanSession reads them.
const columns = `id, nas, acct_session_id, stay_id, device_id,
	user_name, calling_station_id, called_station_id,
	framed_ip, nas_address, nas_ip_address, nas_ipv6_address, nas_identifier,
	started_at, updated_at, stopped_at, session_time,
	input_octets, output_octets, input_packets, output_packets,
	terminate_cause, disconnect_at, disconnect_outcome`

// The writer's statements. A record is one statement, with no read before
// it: mergeSession inserts the session its first record makes, or merges
// the record into the row the database has (whoever wrote it: this
// process, or keycard session kick in another), in SQL, by the rules of
// merge (merge.go). Only the columns a record carries are written: a
// Disconnect outcome is never touched, a stopped_at never cleared. Its
// values are upsertArgs in order. The variants differ in what they return:
// mergeSession nothing (the writer knows the row it merged onto, see
// batch.record), mergeSessionReturning the row as it is now, and
// insertSession, which only inserts, the new id or no row when the session
// exists. The SQL is SQLite's and PostgreSQL's alike (INSERT ... ON
// CONFLICT with excluded, RETURNING, CASE and COALESCE; only the
// placeholders would change).
var (
	mergeSession = insertValues + ` ON CONFLICT (nas, acct_session_id) DO UPDATE SET
	stay_id = COALESCE(sessions.stay_id, excluded.stay_id),
	device_id = COALESCE(sessions.device_id, excluded.device_id),
	user_name = ` + newest("user_name") + `,
	calling_station_id = ` + newest("calling_station_id") + `,
	called_station_id = ` + newest("called_station_id") + `,
	framed_ip = ` + newest("framed_ip") + `,
	nas_address = ` + newest("nas_address") + `,
	nas_ip_address = ` + newest("nas_ip_address") + `,
	nas_ipv6_address = ` + newest("nas_ipv6_address") + `,
	nas_identifier = ` + newest("nas_identifier") + `,
	started_at = CASE WHEN excluded.started_at < sessions.started_at THEN excluded.started_at ELSE sessions.started_at END,
	updated_at = ` + largest("updated_at") + `,
	stopped_at = COALESCE(sessions.stopped_at, excluded.stopped_at),
	session_time = ` + largest("session_time") + `,
	input_octets = ` + largest("input_octets") + `,
	output_octets = ` + largest("output_octets") + `,
	input_packets = ` + largest("input_packets") + `,
	output_packets = ` + largest("output_packets") + `,
	terminate_cause = CASE WHEN sessions.stopped_at IS NULL AND excluded.stopped_at IS NOT NULL
		THEN excluded.terminate_cause ELSE sessions.terminate_cause END`
	mergeSessionReturning = mergeSession + ` RETURNING ` + columns
	insertSession         = insertValues + ` ON CONFLICT (nas, acct_session_id) DO NOTHING RETURNING id`
)

const insertValues = `INSERT INTO sessions (nas, acct_session_id, stay_id, device_id,
	user_name, calling_station_id, called_station_id,
	framed_ip, nas_address, nas_ip_address, nas_ipv6_address, nas_identifier,
	started_at, updated_at, stopped_at, session_time,
	input_octets, output_octets, input_packets, output_packets, terminate_cause)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// The writer's other statements.
const (
	// closeOpenAt closes a NAS's open sessions not heard from after the
	// given time (Accounting-On/Off).
	closeOpenAt = `UPDATE sessions SET stopped_at = ?, terminate_cause = ?
	WHERE nas = ? AND stopped_at IS NULL AND updated_at <= ?
	RETURNING ` + columns
	// setDisconnect keeps a Disconnect outcome unless a later one is there.
	setDisconnect = `UPDATE sessions SET disconnect_at = ?, disconnect_outcome = ?
	WHERE id = ? AND (disconnect_at IS NULL OR disconnect_at <= ?)
	RETURNING ` + columns
	selectByID = `SELECT ` + columns + ` FROM sessions WHERE id = ?`
	// dataVersion changes when another connection, in this process or
	// another, has committed a change to the database since this one last
	// looked (SQLite's; see Store.observe).
	dataVersion = `PRAGMA data_version`
)

// newest is merge's rule for an identifier, in mergeSession: the record's
// value when it has one and is not older than the row (or the row has
// none), else the row's. All of a SET's expressions read the row as it
// was before the statement, in SQLite and PostgreSQL alike.
func newest(col string) string {
	return `CASE WHEN excluded.` + col + ` <> '' AND (excluded.updated_at >= sessions.updated_at OR sessions.` + col + ` = '')
		THEN excluded.` + col + ` ELSE sessions.` + col + ` END`
}

// largest is merge's rule for a cumulative counter (and the update time):
// the larger of the row's and the record's.
func largest(col string) string {
	return `CASE WHEN excluded.` + col + ` > sessions.` + col + ` THEN excluded.` + col + ` ELSE sessions.` + col + ` END`
}

// upsertArgs are the values of mergeSession and insertSession for rec: the session rec
// would make on its own (merge onto the zero Session).
func upsertArgs(rec *Record) []any {
	stopped, cause := sql.NullInt64{}, ""
	if rec.Kind == Stop {
		stopped, cause = sql.NullInt64{Int64: dbTime(rec.At), Valid: true}, rec.TerminateCause
	}
	return []any{rec.NAS, rec.AcctSessionID, nullID(rec.StayID), nullID(rec.DeviceID),
		rec.UserName, rec.CallingStationID, rec.CalledStationID,
		addrText(rec.FramedIP), addrText(rec.NASAddress), addrText(rec.NASIPAddress), addrText(rec.NASIPv6Address), rec.NASIdentifier,
		dbTime(rec.At.Add(-rec.SessionTime)), dbTime(rec.At), stopped, int64(rec.SessionTime),
		counter(rec.InputOctets), counter(rec.OutputOctets), counter(rec.InputPackets), counter(rec.OutputPackets), cause}
}

// scanner is what *sql.Row and *sql.Rows share.
type scanner interface{ Scan(dest ...any) error }

// scanSession reads columns. Stale is left false.
func scanSession(r scanner) (Session, error) {
	var s Session
	var stay, device, stopped, discAt sql.NullInt64
	var framed, nasAddr, nasIP, nasIP6 string
	var started, updated, secs, in, out, inPkts, outPkts int64
	err := r.Scan(&s.ID, &s.NAS, &s.AcctSessionID, &stay, &device,
		&s.UserName, &s.CallingStationID, &s.CalledStationID,
		&framed, &nasAddr, &nasIP, &nasIP6, &s.NASIdentifier,
		&started, &updated, &stopped, &secs,
		&in, &out, &inPkts, &outPkts,
		&s.TerminateCause, &discAt, &s.DisconnectOutcome)
	if err != nil {
		if err == sql.ErrNoRows {
			return Session{}, err
		}
		return Session{}, fmt.Errorf("sessions: read session: %w", err)
	}
	s.StayID, s.DeviceID = stay.Int64, device.Int64
	for _, a := range []struct {
		text string
		dst  *netip.Addr
	}{{framed, &s.FramedIP}, {nasAddr, &s.NASAddress}, {nasIP, &s.NASIPAddress}, {nasIP6, &s.NASIPv6Address}} {
		if a.text == "" {
			continue
		}
		if *a.dst, err = netip.ParseAddr(a.text); err != nil {
			return Session{}, fmt.Errorf("sessions: session %d: %w", s.ID, err)
		}
	}
	s.StartedAt, s.UpdatedAt = fromDB(started), fromDB(updated)
	s.StoppedAt, s.DisconnectAt = fromNull(stopped), fromNull(discAt)
	s.SessionTime = time.Duration(secs)
	s.InputOctets, s.OutputOctets = uint64(in), uint64(out)
	s.InputPackets, s.OutputPackets = uint64(inPkts), uint64(outPkts)
	return s, nil
}

// Times are stored as UTC unix nanoseconds.
func dbTime(t time.Time) int64 { return t.UTC().UnixNano() }

func fromDB(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNull(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromDB(n.Int64)
	return &t
}

// nullID stores 0 (not known) as NULL.
func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// counter fits a counter into an INTEGER column (Record has already
// clamped what it accepts to this).
func counter(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
