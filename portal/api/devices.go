package api

import (
	"net/http"
	"time"

	"keycard/vouchers"
)

// deviceJSON is an enrolled device as the API shows it.
type deviceJSON struct {
	ID           int64      `json:"id"`
	StayID       int64      `json:"stay_id"`
	Identity     string     `json:"identity"`
	Serial       string     `json:"serial"`
	Platform     string     `json:"platform"`
	Label        string     `json:"label"`
	EnrolledAt   time.Time  `json:"enrolled_at"`
	NotAfter     time.Time  `json:"not_after"`
	RevokedAt    *time.Time `json:"revoked_at"`
	RevokeReason string     `json:"revoke_reason"`
}

func viewDevice(d vouchers.Device) deviceJSON {
	return deviceJSON{ID: d.ID, StayID: d.StayID, Identity: d.Identity, Serial: d.Serial, Platform: d.Platform,
		Label: d.Label, EnrolledAt: d.EnrolledAt, NotAfter: d.NotAfter, RevokedAt: d.RevokedAt, RevokeReason: d.RevokeReason}
}

type devicesJSON struct {
	Devices []deviceJSON `json:"devices"`
}

func (h *handler) stayDevices(c *call) (*reply, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	// Devices answers an unknown stay with none: tell the PMS instead.
	if _, err := h.hotel.Stay(c.r.Context(), id); err != nil {
		return nil, err
	}
	ds, err := h.hotel.Devices(c.r.Context(), id)
	if err != nil {
		return nil, err
	}
	out := devicesJSON{Devices: make([]deviceJSON, 0, len(ds))}
	for _, d := range ds {
		out.Devices = append(out.Devices, viewDevice(d))
	}
	return jsonReply(http.StatusOK, out)
}

func (h *handler) revokeDevice(c *call) (*reply, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if len(c.body) == 0 {
		return nil, fail(kindBadRequest, "a JSON body with a reason is required")
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	d, err := h.hotel.RevokeDevice(c.r.Context(), c.by, id, in.Reason)
	if err != nil {
		return nil, err
	}
	return jsonReply(http.StatusOK, viewDevice(d))
}
