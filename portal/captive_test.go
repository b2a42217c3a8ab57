package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"keycard/sessions"
	"keycard/vouchers"
)

func TestCaptivePortalAPI(t *testing.T) {
	f := newFixture(t)
	live, _ := f.stay("Ada Lovelace", 3)
	ended, _ := f.stay("Grace Hopper", 3)
	if _, err := f.vs.EndStay(context.Background(), vouchers.Actor{Name: "staff:test", Source: "test"}, ended.ID); err != nil {
		t.Fatal(err)
	}
	f.sessions[netip.MustParseAddr("10.20.0.5")] = sessions.Session{ID: 1, StayID: live.ID, DeviceID: 1}
	f.sessions[netip.MustParseAddr("10.20.0.6")] = sessions.Session{ID: 2, StayID: ended.ID, DeviceID: 2}
	f.sessions[netip.MustParseAddr("2001:db8::5")] = sessions.Session{ID: 3, StayID: live.ID, DeviceID: 3}
	f.clock.Advance(90 * time.Minute)

	type answer struct {
		Captive          bool   `json:"captive"`
		UserPortalURL    string `json:"user-portal-url"`
		SecondsRemaining *int64 `json:"seconds-remaining"`
	}
	left := int64(live.CheckOut.Sub(f.clock.Now()).Seconds())
	for _, tc := range []struct {
		name, from string
		captive    bool
		seconds    *int64
	}{
		{"no session: not yet enrolled", "10.20.0.99:5000", true, nil},
		{"session of a live stay", "10.20.0.5:5000", false, &left},
		{"IPv4-mapped address", "[::ffff:10.20.0.5]:5000", false, &left},
		{"IPv6", "[2001:db8::5]:5000", false, &left},
		{"session of an ended stay", "10.20.0.6:5000", true, nil},
	} {
		w := f.do(request{path: "/api/captive", from: tc.from})
		wantStatus(t, w, http.StatusOK, tc.name)
		if ct := w.Header().Get("Content-Type"); ct != "application/captive+json" {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
		var a answer
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			t.Fatalf("%s: %v: %s", tc.name, err, w.Body)
		}
		if a.Captive != tc.captive {
			t.Errorf("%s: captive %v, want %v", tc.name, a.Captive, tc.captive)
		}
		if tc.captive && a.UserPortalURL != testURL {
			t.Errorf("%s: user-portal-url %q", tc.name, a.UserPortalURL)
		}
		switch {
		case tc.seconds == nil && a.SecondsRemaining != nil:
			t.Errorf("%s: seconds-remaining %d on a captive answer", tc.name, *a.SecondsRemaining)
		case tc.seconds != nil && (a.SecondsRemaining == nil || *a.SecondsRemaining != *tc.seconds):
			t.Errorf("%s: seconds-remaining %v, want %d", tc.name, a.SecondsRemaining, *tc.seconds)
		}
	}
	if got := f.do(request{path: "/api/captive", from: "10.20.0.99:5000"}).Body.String(); got != `{"captive":true,"user-portal-url":"https://wifi.hotel.test/"}`+"\n" {
		t.Errorf("captive answer %s", got)
	}
}
