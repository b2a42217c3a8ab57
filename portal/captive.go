package portal

import (
	"encoding/json"
	"net/http"
)

// ContentTypeCaptive is the RFC 8908 media type.
const ContentTypeCaptive = "application/captive+json"

// captiveState is the RFC 8908 Captive Portal API answer.
type captiveState struct {
	Captive          bool   `json:"captive"`
	UserPortalURL    string `json:"user-portal-url,omitempty"`
	VenueInfoURL     string `json:"venue-info-url,omitempty"`
	SecondsRemaining *int64 `json:"seconds-remaining,omitempty"`
}

// captiveAPI answers the RFC 8908 Captive Portal API, which the hotel's
// DHCP server announces with option 114 (RFC 8910): a device with no open
// session on the secure network (found by its address in the sessions
// Keycard's accounting knows) is captive and is sent to the portal; one
// with a session of a live stay is not, and is told the seconds left
// until check-out.
func (p *Portal) captiveAPI(w http.ResponseWriter, r *http.Request) {
	state := captiveState{Captive: true, UserPortalURL: p.URL(), VenueInfoURL: p.cfg.Network.HelpdeskURL}
	if p.sessions != nil {
		if sess, ok := p.sessions.ByAddress(clientAddr(r)); ok && sess.Open() && sess.StayID != 0 {
			st, err := p.hotel.Stay(r.Context(), sess.StayID)
			now := p.now()
			switch {
			case err != nil:
				p.log.Warn("captive API: read stay", "stay", sess.StayID, "err", err)
			case !st.Over(now):
				left := int64(st.CheckOut.Sub(now).Seconds())
				state = captiveState{Captive: false, SecondsRemaining: &left, VenueInfoURL: p.cfg.Network.HelpdeskURL}
			}
		}
	}
	w.Header().Set("Content-Type", ContentTypeCaptive)
	// RFC 8908 section 5: the answer is for this client only.
	w.Header().Set("Cache-Control", "private, no-store")
	json.NewEncoder(w).Encode(state)
}
