package sessions

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"net/netip"
	"strings"
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
// merge (merge.go). Only the columns a record can change are written: a
// Disconnect outcome is never touched, a stopped_at never cleared, and
// (see mergeColumns) a column the record is known not to change is left
// out, so that SQLite does not rewrite the index entries it is part of.
// Its values are recordArgs in order. The variants differ in what they
// return: mergeSession nothing (the writer knows the row it merged onto,
// see batch.record), mergeSessionReturning the row as it is now, and
// insertSession, which only inserts, the new id or no row when the
// session exists. The SQL is SQLite's and PostgreSQL's alike (INSERT ...
// ON CONFLICT with excluded, RETURNING, CASE and COALESCE; only the
// placeholders would change).
var (
	mergeSessionReturning = mergeSession(mergeAll) + ` RETURNING ` + columns
	insertSession         = insertValues + ` ON CONFLICT (nas, acct_session_id) DO NOTHING RETURNING id`
)

// mergeColumns are the columns of mergeSession that a record may leave
// alone, each in an index or two: stay_id and device_id once the session
// has them (they never change after), started_at when the record does
// not start the session earlier, stopped_at and terminate_cause unless
// the record is a Stop of an open session. The others (identifiers,
// counters, updated_at) are always merged.
type mergeColumns uint8

const (
	mergeStay mergeColumns = 1 << iota
	mergeDevice
	mergeStarted
	mergeStop
	mergeAll = mergeStay | mergeDevice | mergeStarted | mergeStop
)

// mergeSession is the statement that merges a record into its session,
// setting the columns of cols and those always merged.
func mergeSession(cols mergeColumns) string {
	set := []string{}
	if cols&mergeStay != 0 {
		set = append(set, `stay_id = COALESCE(sessions.stay_id, excluded.stay_id)`)
	}
	if cols&mergeDevice != 0 {
		set = append(set, `device_id = COALESCE(sessions.device_id, excluded.device_id)`)
	}
	for _, col := range []string{"user_name", "calling_station_id", "called_station_id",
		"framed_ip", "nas_address", "nas_ip_address", "nas_ipv6_address", "nas_identifier"} {
		set = append(set, col+` = `+newest(col))
	}
	if cols&mergeStarted != 0 {
		set = append(set, `started_at = CASE WHEN excluded.started_at < sessions.started_at THEN excluded.started_at ELSE sessions.started_at END`)
	}
	for _, col := range []string{"updated_at", "session_time", "input_octets", "output_octets", "input_packets", "output_packets"} {
		set = append(set, col+` = `+largest(col))
	}
	if cols&mergeStop != 0 {
		set = append(set, `stopped_at = COALESCE(sessions.stopped_at, excluded.stopped_at)`,
			`terminate_cause = CASE WHEN sessions.stopped_at IS NULL AND excluded.stopped_at IS NOT NULL
		THEN excluded.terminate_cause ELSE sessions.terminate_cause END`)
	}
	return insertValues + ` ON CONFLICT (nas, acct_session_id) DO UPDATE SET
	` + strings.Join(set, ",\n\t")
}

// columnsFor are the mergeColumns that rec may change in a session whose
// row was known as known at some time (a row's stay, device and stop, once
// set, never change, and its start only moves earlier, so what known says
// of them holds of the row now even if it changed since).
func columnsFor(rec *Record, known *Session) mergeColumns {
	var cols mergeColumns
	if rec.StayID != 0 && known.StayID == 0 {
		cols |= mergeStay
	}
	if rec.DeviceID != 0 && known.DeviceID == 0 {
		cols |= mergeDevice
	}
	if rec.At.Add(-rec.SessionTime).Before(known.StartedAt) {
		cols |= mergeStarted
	}
	if rec.Kind == Stop && known.StoppedAt == nil {
		cols |= mergeStop
	}
	return cols
}

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

// columnCount is the number of columns; upsertArgCount the number of
// values of mergeSession and insertSession.
const (
	columnCount    = 24
	upsertArgCount = 21
)

// recordArgs puts the values of mergeSession and insertSession for rec in
// w's arguments: the session rec would make on its own (merge onto the
// zero Session). It returns their number.
func recordArgs(w *wconn, rec *Record) int {
	var stopped driver.Value
	cause := ""
	if rec.Kind == Stop {
		stopped, cause = dbTime(rec.At), rec.TerminateCause
	}
	for i, v := range [upsertArgCount]driver.Value{rec.NAS, rec.AcctSessionID, idValue(rec.StayID), idValue(rec.DeviceID),
		rec.UserName, rec.CallingStationID, rec.CalledStationID,
		addrText(rec.FramedIP), addrText(rec.NASAddress), addrText(rec.NASIPAddress), addrText(rec.NASIPv6Address), rec.NASIdentifier,
		dbTime(rec.At.Add(-rec.SessionTime)), dbTime(rec.At), stopped, int64(rec.SessionTime),
		counter(rec.InputOctets), counter(rec.OutputOctets), counter(rec.InputPackets), counter(rec.OutputPackets), cause} {
		w.set(i, v)
	}
	return upsertArgCount
}

// scanner is what *sql.Row and *sql.Rows share.
type scanner interface{ Scan(dest ...any) error }

// scanSession reads columns through database/sql. Stale is left false.
func scanSession(r scanner) (Session, error) {
	var v [columnCount]any
	var dest [columnCount]any
	for i := range v {
		dest[i] = &v[i]
	}
	if err := r.Scan(dest[:]...); err != nil {
		if err == sql.ErrNoRows {
			return Session{}, err
		}
		return Session{}, fmt.Errorf("sessions: read session: %w", err)
	}
	var row [columnCount]driver.Value
	for i := range v {
		row[i] = v[i]
	}
	return decodeSession(row[:])
}

// decodeSession makes a Session of a row of columns as the driver returns
// it (int64, string or nil). Stale is left false.
func decodeSession(row []driver.Value) (Session, error) {
	if len(row) != columnCount {
		return Session{}, fmt.Errorf("sessions: read session: %d columns, want %d", len(row), columnCount)
	}
	var d decoder
	s := Session{
		ID:                d.int(row[0]),
		NAS:               d.text(row[1]),
		AcctSessionID:     d.text(row[2]),
		StayID:            d.nullInt(row[3]),
		DeviceID:          d.nullInt(row[4]),
		UserName:          d.text(row[5]),
		CallingStationID:  d.text(row[6]),
		CalledStationID:   d.text(row[7]),
		FramedIP:          d.addr(row[8]),
		NASAddress:        d.addr(row[9]),
		NASIPAddress:      d.addr(row[10]),
		NASIPv6Address:    d.addr(row[11]),
		NASIdentifier:     d.text(row[12]),
		StartedAt:         fromDB(d.int(row[13])),
		UpdatedAt:         fromDB(d.int(row[14])),
		StoppedAt:         d.time(row[15]),
		SessionTime:       time.Duration(d.int(row[16])),
		InputOctets:       uint64(d.int(row[17])),
		OutputOctets:      uint64(d.int(row[18])),
		InputPackets:      uint64(d.int(row[19])),
		OutputPackets:     uint64(d.int(row[20])),
		TerminateCause:    d.text(row[21]),
		DisconnectAt:      d.time(row[22]),
		DisconnectOutcome: d.text(row[23]),
	}
	if d.err != nil {
		return Session{}, fmt.Errorf("sessions: session %d: %w", s.ID, d.err)
	}
	return s, nil
}

// decoder reads column values, keeping the first error.
type decoder struct{ err error }

func (d *decoder) fail(what string, v driver.Value) {
	if d.err == nil {
		d.err = fmt.Errorf("%s column holds %T", what, v)
	}
}

func (d *decoder) int(v driver.Value) int64 {
	n, ok := v.(int64)
	if !ok {
		d.fail("an integer", v)
	}
	return n
}

// nullInt reads an id that is NULL when not known.
func (d *decoder) nullInt(v driver.Value) int64 {
	if v == nil {
		return 0
	}
	return d.int(v)
}

func (d *decoder) text(v driver.Value) string {
	switch t := v.(type) {
	case string:
		return t
	case []byte:
		return string(t)
	}
	d.fail("a text", v)
	return ""
}

// time reads a time that is NULL when there is none.
func (d *decoder) time(v driver.Value) *time.Time {
	if v == nil {
		return nil
	}
	t := fromDB(d.int(v))
	return &t
}

// addr reads an address stored as text (empty when there is none).
func (d *decoder) addr(v driver.Value) netip.Addr {
	text := d.text(v)
	if text == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(text)
	if err != nil && d.err == nil {
		d.err = err
	}
	return a
}

// Times are stored as UTC unix nanoseconds.
func dbTime(t time.Time) int64 { return t.UTC().UnixNano() }

func fromDB(n int64) time.Time { return time.Unix(0, n).UTC() }

// idValue stores 0 (not known) as NULL.
func idValue(id int64) driver.Value {
	if id == 0 {
		return nil
	}
	return id
}

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
