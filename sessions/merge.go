package sessions

import (
	"net/netip"
	"time"
)

// merge folds rec into s, the session as stored, or the zero Session when
// rec is the first record of it. The writer's mergeSession applies the
// same rules in SQL onto the row as the database has it, and the writer
// applies merge to its copy of the row when it has an exact one, so that
// it learns the result without reading it back (see batch.record); the
// tests check that the two agree. The rules make a record's effect the same
// whatever order records arrive in and however often each arrives:
//
//   - counters and SessionTime are cumulative at the NAS, so each becomes
//     the larger of stored and new: a retransmission cannot count twice
//     and a reordered Interim cannot go backwards;
//   - StartedAt is the earliest start known (a record that is not a Start
//     says At - SessionTime), UpdatedAt the latest At;
//   - a Stop closes an open session (StoppedAt = At, its terminate cause);
//     nothing reopens a closed one, and a second Stop changes only what
//     the maxima change;
//   - StayID and DeviceID, unknown as 0, are filled in by the first record
//     that knows them and then kept;
//   - the identifiers (User-Name, Calling-Station-Id, addresses ...) take
//     the non-empty value of the newest record; an older record only fills
//     in what is still empty.
func merge(s *Session, rec *Record) {
	first := s.NAS == ""
	if first {
		s.NAS, s.AcctSessionID = rec.NAS, rec.AcctSessionID
	}
	newer := first || !rec.At.Before(s.UpdatedAt)
	if s.StayID == 0 {
		s.StayID = rec.StayID
	}
	if s.DeviceID == 0 {
		s.DeviceID = rec.DeviceID
	}
	text(&s.UserName, rec.UserName, newer)
	text(&s.CallingStationID, rec.CallingStationID, newer)
	text(&s.CalledStationID, rec.CalledStationID, newer)
	text(&s.NASIdentifier, rec.NASIdentifier, newer)
	addr(&s.FramedIP, rec.FramedIP, newer)
	addr(&s.NASAddress, rec.NASAddress, newer)
	addr(&s.NASIPAddress, rec.NASIPAddress, newer)
	addr(&s.NASIPv6Address, rec.NASIPv6Address, newer)

	if started := rec.At.Add(-rec.SessionTime); first || started.Before(s.StartedAt) {
		s.StartedAt = started
	}
	if first || rec.At.After(s.UpdatedAt) {
		s.UpdatedAt = rec.At
	}
	s.SessionTime = max(s.SessionTime, rec.SessionTime)
	s.InputOctets = max(s.InputOctets, rec.InputOctets)
	s.OutputOctets = max(s.OutputOctets, rec.OutputOctets)
	s.InputPackets = max(s.InputPackets, rec.InputPackets)
	s.OutputPackets = max(s.OutputPackets, rec.OutputPackets)

	if rec.Kind == Stop && s.StoppedAt == nil {
		at := rec.At
		s.StoppedAt = &at
		s.TerminateCause = rec.TerminateCause
	}
}

func text(dst *string, v string, newer bool) {
	if v != "" && (newer || *dst == "") {
		*dst = v
	}
}

func addr(dst *netip.Addr, v netip.Addr, newer bool) {
	if v.IsValid() && (newer || !dst.IsValid()) {
		*dst = v
	}
}

// same reports whether a and b would be stored alike (Stale aside).
func same(a, b *Session) bool {
	return a.ID == b.ID && a.NAS == b.NAS && a.AcctSessionID == b.AcctSessionID &&
		a.StayID == b.StayID && a.DeviceID == b.DeviceID &&
		a.UserName == b.UserName && a.CallingStationID == b.CallingStationID && a.CalledStationID == b.CalledStationID &&
		a.FramedIP == b.FramedIP && a.NASAddress == b.NASAddress && a.NASIPAddress == b.NASIPAddress &&
		a.NASIPv6Address == b.NASIPv6Address && a.NASIdentifier == b.NASIdentifier &&
		a.StartedAt.Equal(b.StartedAt) && a.UpdatedAt.Equal(b.UpdatedAt) && sameTime(a.StoppedAt, b.StoppedAt) &&
		a.SessionTime == b.SessionTime &&
		a.InputOctets == b.InputOctets && a.OutputOctets == b.OutputOctets &&
		a.InputPackets == b.InputPackets && a.OutputPackets == b.OutputPackets &&
		a.TerminateCause == b.TerminateCause &&
		sameTime(a.DisconnectAt, b.DisconnectAt) && a.DisconnectOutcome == b.DisconnectOutcome
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// clone copies s so that it shares no pointer with the original.
func clone(s Session) Session {
	if s.StoppedAt != nil {
		t := *s.StoppedAt
		s.StoppedAt = &t
	}
	if s.DisconnectAt != nil {
		t := *s.DisconnectAt
		s.DisconnectAt = &t
	}
	return s
}
