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

// The writer's statements. The values are writeArgs in order; the UPDATE
// leaves the key (nas, acct_session_id) alone and takes the id last.
const (
	insertSession = `INSERT INTO sessions (nas, acct_session_id, stay_id, device_id,
	user_name, calling_station_id, called_station_id,
	framed_ip, nas_address, nas_ip_address, nas_ipv6_address, nas_identifier,
	started_at, updated_at, stopped_at, session_time,
	input_octets, output_octets, input_packets, output_packets,
	terminate_cause, disconnect_at, disconnect_outcome)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	RETURNING id`
	updateSession = `UPDATE sessions SET stay_id = ?, device_id = ?,
	user_name = ?, calling_station_id = ?, called_station_id = ?,
	framed_ip = ?, nas_address = ?, nas_ip_address = ?, nas_ipv6_address = ?, nas_identifier = ?,
	started_at = ?, updated_at = ?, stopped_at = ?, session_time = ?,
	input_octets = ?, output_octets = ?, input_packets = ?, output_packets = ?,
	terminate_cause = ?, disconnect_at = ?, disconnect_outcome = ?
	WHERE id = ?`
	selectByKey  = `SELECT ` + columns + ` FROM sessions WHERE nas = ? AND acct_session_id = ?`
	selectByID   = `SELECT ` + columns + ` FROM sessions WHERE id = ?`
	selectOpenAt = `SELECT ` + columns + ` FROM sessions WHERE nas = ? AND stopped_at IS NULL AND updated_at <= ?`
)

// writeArgs are the values of insertSession; writeArgs(s)[2:] followed by
// the id are those of updateSession.
func writeArgs(s *Session) []any {
	return []any{s.NAS, s.AcctSessionID, nullID(s.StayID), nullID(s.DeviceID),
		s.UserName, s.CallingStationID, s.CalledStationID,
		addrText(s.FramedIP), addrText(s.NASAddress), addrText(s.NASIPAddress), addrText(s.NASIPv6Address), s.NASIdentifier,
		dbTime(s.StartedAt), dbTime(s.UpdatedAt), nullTime(s.StoppedAt), int64(s.SessionTime),
		counter(s.InputOctets), counter(s.OutputOctets), counter(s.InputPackets), counter(s.OutputPackets),
		s.TerminateCause, nullTime(s.DisconnectAt), s.DisconnectOutcome}
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

func nullTime(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: dbTime(*t), Valid: true}
}

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
