package webhooks

import (
	"encoding/json"
	"fmt"
	"time"

	"keycard/vouchers"
)

// The event types. configs keeps the same list for validation.
const (
	StayCreated    = "stay.created"
	StayExtended   = "stay.extended"
	StayEnded      = "stay.ended"
	DeviceEnrolled = "device.enrolled"
	DeviceRevoked  = "device.revoked"
	SessionStarted = "session.started"
	SessionStopped = "session.stopped"
	AuditHead      = "audit.head"
)

// EventTypes returns every event type, in a fixed order.
func EventTypes() []string {
	return []string{StayCreated, StayExtended, StayEnded, DeviceEnrolled, DeviceRevoked,
		SessionStarted, SessionStopped, AuditHead}
}

// knownType reports whether t is one of EventTypes.
func knownType(t string) bool {
	for _, k := range EventTypes() {
		if k == t {
			return true
		}
	}
	return false
}

// auditEventType is the event an audit entry's action makes, if any. The
// audit log records more (NAS clients, vouchers, staff): those are not
// events for other systems.
func auditEventType(action string) (string, bool) {
	switch action {
	case "stay.create":
		return StayCreated, true
	case "stay.extend":
		return StayExtended, true
	case "stay.end":
		return StayEnded, true
	case "device.enrol":
		return DeviceEnrolled, true
	case "device.revoke":
		return DeviceRevoked, true
	}
	return "", false
}

// Event is the JSON body of every request. Data's shape depends on Type:
// StayData, DeviceData, SessionData or AuditHeadData.
type Event struct {
	// ID is stable: the same on every attempt and every Keycard process
	// ("audit-42", "session-17-stopped", "audit-head-42"). Receivers dedupe
	// by it, since delivery is at least once.
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"` // when the change happened
	Data       json.RawMessage `json:"data"`
}

// AuditRecord is the audit entry behind a stay or device event: the exact
// change, who made it and from where.
type AuditRecord struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Source  string    `json:"source"`
	Action  string    `json:"action"`
	Subject string    `json:"subject"`
	Detail  string    `json:"detail"`
	Hash    string    `json:"hash"`
}

// Stay is a stay as events show it.
type Stay struct {
	ID         int64      `json:"id"`
	Room       string     `json:"room"`
	GuestName  string     `json:"guest_name"`
	CheckIn    time.Time  `json:"check_in"`
	CheckOut   time.Time  `json:"check_out"`
	MaxDevices int        `json:"max_devices"`
	Policy     string     `json:"policy"`
	EndedAt    *time.Time `json:"ended_at"`
}

// StayData is the data of stay.created, stay.extended and stay.ended.
// Stay is the stay as it was when the event was enqueued (normally within
// a second of the change; later after a restart); Audit is the change
// itself. Stay is null if the stay no longer exists.
type StayData struct {
	StayID int64       `json:"stay_id"`
	Stay   *Stay       `json:"stay"`
	Audit  AuditRecord `json:"audit"`
}

// Device is an enrolled device as events show it. No key, no certificate.
type Device struct {
	ID           int64      `json:"id"`
	StayID       int64      `json:"stay_id"`
	Serial       string     `json:"serial"`
	Platform     string     `json:"platform"`
	Label        string     `json:"label"`
	EnrolledAt   time.Time  `json:"enrolled_at"`
	NotAfter     time.Time  `json:"not_after"`
	RevokedAt    *time.Time `json:"revoked_at"`
	RevokeReason string     `json:"revoke_reason"`
}

// DeviceData is the data of device.enrolled and device.revoked, like
// StayData.
type DeviceData struct {
	DeviceID int64       `json:"device_id"`
	StayID   int64       `json:"stay_id"`
	Device   *Device     `json:"device"`
	Audit    AuditRecord `json:"audit"`
}

// SessionData is the data of session.started and session.stopped: the
// session as the sessions table had it when the event was enqueued.
type SessionData struct {
	Session Session `json:"session"`
}

// AuditHeadData is the data of audit.head: the audit chain after a batch
// of new entries. Entries is the count (entry ids run 1, 2, 3 ... so it is
// also the last id); Head is the last entry's hash. Keep the newest one
// outside Keycard: `keycard audit verify` on the database must report at
// least Entries entries and, at that count, the same hash.
type AuditHeadData struct {
	Entries int64     `json:"entries"`
	Head    string    `json:"head"`
	At      time.Time `json:"at"` // the last entry's time
}

// pendingEvent is an event on its way into the outbox.
type pendingEvent struct {
	source   string // with sourceID: what the event is about, unique
	sourceID int64
	event    Event
}

// body is the exact JSON posted.
func (p pendingEvent) body() ([]byte, error) {
	b, err := json.Marshal(p.event)
	if err != nil {
		return nil, fmt.Errorf("webhooks: encode %s: %w", p.event.ID, err)
	}
	return b, nil
}

func newPending(source string, sourceID int64, id, typ string, at time.Time, data any) (pendingEvent, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return pendingEvent{}, fmt.Errorf("webhooks: encode %s: %w", id, err)
	}
	return pendingEvent{source: source, sourceID: sourceID,
		event: Event{ID: id, Type: typ, OccurredAt: at.UTC(), Data: raw}}, nil
}

func auditRecord(e vouchers.AuditEntry) AuditRecord {
	return AuditRecord{ID: e.ID, At: e.At.UTC(), Actor: e.Actor, Source: e.Source, Action: e.Action,
		Subject: e.Subject, Detail: e.Detail, Hash: e.Hash}
}

func stayView(st vouchers.Stay) *Stay {
	return &Stay{ID: st.ID, Room: st.Room, GuestName: st.GuestName, CheckIn: st.CheckIn.UTC(), CheckOut: st.CheckOut.UTC(),
		MaxDevices: st.MaxDevices, Policy: st.Policy, EndedAt: utcPtr(st.EndedAt)}
}

func deviceView(d vouchers.Device) *Device {
	return &Device{ID: d.ID, StayID: d.StayID, Serial: d.Serial, Platform: d.Platform, Label: d.Label,
		EnrolledAt: d.EnrolledAt.UTC(), NotAfter: d.NotAfter.UTC(), RevokedAt: utcPtr(d.RevokedAt), RevokeReason: d.RevokeReason}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
