package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"keycard/vouchers"
)

// stayJSON is a stay as the API shows it.
type stayJSON struct {
	ID          int64      `json:"id"`
	ExternalID  *string    `json:"external_id"`
	Room        string     `json:"room"`
	GuestName   string     `json:"guest_name"`
	CheckIn     time.Time  `json:"check_in"`
	CheckOut    time.Time  `json:"check_out"`
	MaxDevices  int        `json:"max_devices"`
	Policy      string     `json:"policy"`
	EndedAt     *time.Time `json:"ended_at"`
	CreatedAt   time.Time  `json:"created_at"`
	Over        bool       `json:"over"`
	VoucherCode string     `json:"voucher_code,omitempty"` // a create's answer only
	Usage       *usageJSON `json:"usage,omitempty"`        // GET /stays/{id} only
}

type usageJSON struct {
	Sessions      int    `json:"sessions"`
	Online        int    `json:"online"`
	SecondsOnline int64  `json:"seconds_online"`
	InputOctets   uint64 `json:"input_octets"`
	OutputOctets  uint64 `json:"output_octets"`
	InputPackets  uint64 `json:"input_packets"`
	OutputPackets uint64 `json:"output_packets"`
}

func viewStay(st vouchers.Stay, ext string, now time.Time) stayJSON {
	v := stayJSON{ID: st.ID, Room: st.Room, GuestName: st.GuestName, CheckIn: st.CheckIn, CheckOut: st.CheckOut,
		MaxDevices: st.MaxDevices, Policy: st.Policy, EndedAt: st.EndedAt, CreatedAt: st.CreatedAt, Over: st.Over(now)}
	if ext != "" {
		v.ExternalID = &ext
	}
	return v
}

func (h *handler) stayView(c *call, st vouchers.Stay) (stayJSON, error) {
	ext, err := h.hotel.ExternalID(c.r.Context(), st.ID)
	if err != nil {
		return stayJSON{}, err
	}
	return viewStay(st, ext, h.now()), nil
}

func stayLocation(id int64) string { return fmt.Sprintf("%s/stays/%d", Prefix, id) }

// pathID reads the {id} path parameter: a positive integer.
func pathID(c *call) (int64, error) {
	s := c.r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fail(kindBadRequest, "id %q must be a positive integer", s)
	}
	return id, nil
}

// newStayJSON is the body of POST /stays.
type newStayJSON struct {
	ExternalID string     `json:"external_id"`
	Room       string     `json:"room"`
	GuestName  string     `json:"guest_name"`
	CheckIn    *time.Time `json:"check_in"`
	CheckOut   *time.Time `json:"check_out"`
	MaxDevices *int       `json:"max_devices"`
	Policy     string     `json:"policy"`
}

func (h *handler) createStay(c *call) (*reply, error) {
	var in newStayJSON
	if len(c.body) == 0 {
		return nil, fail(kindBadRequest, "a JSON body is required")
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.CheckOut == nil {
		return nil, fail(kindInvalid, "check_out is required")
	}
	req := vouchers.NewStay{Room: in.Room, GuestName: in.GuestName, CheckOut: *in.CheckOut,
		MaxDevices: h.devices, Policy: in.Policy}
	if in.CheckIn != nil {
		req.CheckIn = *in.CheckIn
	}
	if in.MaxDevices != nil {
		req.MaxDevices = *in.MaxDevices
	}
	if req.Policy == "" {
		req.Policy = h.policy
	}
	st, code, err := h.hotel.CreateStayExternal(c.r.Context(), c.by, req, in.ExternalID)
	if err != nil {
		return nil, err
	}
	v := viewStay(st, strings.TrimSpace(in.ExternalID), h.now())
	stored, err := json.Marshal(v) // kept without the code
	if err != nil {
		return nil, fmt.Errorf("api: encode answer: %w", err)
	}
	v.VoucherCode = code
	rep, err := jsonReply(http.StatusCreated, v)
	if err != nil {
		return nil, err
	}
	rep.location, rep.stored = stayLocation(st.ID), append(stored, '\n')
	return rep, nil
}

// replayCreate answers a retried create: the stay as first answered (its
// current state) and a new voucher code, since the first was never kept.
func (h *handler) replayCreate(c *call, stored *reply) (*reply, error) {
	var v stayJSON
	if err := json.Unmarshal(stored.body, &v); err != nil {
		return nil, fmt.Errorf("api: read a kept answer: %w", err)
	}
	st, err := h.hotel.Stay(c.r.Context(), v.ID)
	if err != nil {
		return nil, err
	}
	if v, err = h.stayView(c, st); err != nil {
		return nil, err
	}
	if v.VoucherCode, err = h.hotel.ReissueVoucher(c.r.Context(), c.by, st.ID); err != nil {
		return nil, err
	}
	rep, err := jsonReply(stored.status, v)
	if err != nil {
		return nil, err
	}
	rep.location = stored.location
	return rep, nil
}

type staysJSON struct {
	Stays []stayJSON `json:"stays"`
}

// listStays: by reservation id (zero or one stay), or the current and
// future stays (ended ones too with all=true).
func (h *handler) listStays(c *call) (*reply, error) {
	q := c.r.URL.Query()
	out := staysJSON{Stays: []stayJSON{}}
	if q.Has("external_id") {
		ext := q.Get("external_id")
		if ext == "" {
			return nil, fail(kindBadRequest, "external_id is empty")
		}
		st, err := h.hotel.StayByExternalID(c.r.Context(), ext)
		switch {
		case err == nil:
			out.Stays = append(out.Stays, viewStay(st, ext, h.now()))
		case !errors.Is(err, vouchers.ErrUnknownStay):
			return nil, err
		}
		return jsonReply(http.StatusOK, out)
	}
	all, err := boolParam(c, "all")
	if err != nil {
		return nil, err
	}
	stays, err := h.hotel.ListStays(c.r.Context(), vouchers.StayFilter{IncludeEnded: all})
	if err != nil {
		return nil, err
	}
	for _, st := range stays {
		v, err := h.stayView(c, st)
		if err != nil {
			return nil, err
		}
		out.Stays = append(out.Stays, v)
	}
	return jsonReply(http.StatusOK, out)
}

func boolParam(c *call, name string) (bool, error) {
	s := c.r.URL.Query().Get(name)
	switch s {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fail(kindBadRequest, "%s must be true or false", name)
}

func (h *handler) getStay(c *call) (*reply, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	st, err := h.hotel.Stay(c.r.Context(), id)
	if err != nil {
		return nil, err
	}
	v, err := h.stayView(c, st)
	if err != nil {
		return nil, err
	}
	u, err := h.sessions.StayUsage(c.r.Context(), id)
	if err != nil {
		return nil, err
	}
	v.Usage = &usageJSON{Sessions: u.Sessions, Online: u.Online, SecondsOnline: int64(u.TimeOnline / time.Second),
		InputOctets: u.InputOctets, OutputOctets: u.OutputOctets, InputPackets: u.InputPackets, OutputPackets: u.OutputPackets}
	return jsonReply(http.StatusOK, v)
}

func (h *handler) extendStay(c *call) (*reply, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	var in struct {
		CheckOut *time.Time `json:"check_out"`
	}
	if len(c.body) == 0 {
		return nil, fail(kindBadRequest, "a JSON body is required")
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.CheckOut == nil {
		return nil, fail(kindInvalid, "check_out is required")
	}
	st, err := h.hotel.ExtendStay(c.r.Context(), c.by, id, *in.CheckOut)
	if err != nil {
		return nil, err
	}
	v, err := h.stayView(c, st)
	if err != nil {
		return nil, err
	}
	return jsonReply(http.StatusOK, v)
}

func (h *handler) endStay(c *call) (*reply, error) {
	id, err := pathID(c)
	if err != nil {
		return nil, err
	}
	var in struct{}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	st, err := h.hotel.EndStay(c.r.Context(), c.by, id)
	if err != nil {
		return nil, err
	}
	v, err := h.stayView(c, st)
	if err != nil {
		return nil, err
	}
	return jsonReply(http.StatusOK, v)
}

func (h *handler) openAPIDoc(c *call) (*reply, error) {
	return &reply{status: http.StatusOK, body: openAPI, ctype: "application/yaml"}, nil
}
