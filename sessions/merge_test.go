package sessions

import (
	"net/netip"
	"testing"
	"time"
)

func TestMergeIdentifiers(t *testing.T) {
	base := func() Session {
		var s Session
		r := rec(Interim, 5*time.Minute, 100, 100)
		merge(&s, &r)
		return s
	}
	ip := netip.MustParseAddr
	tests := []struct {
		name  string
		tweak func(*Record)
		check func(Session) bool
	}{
		{"a newer record's value wins",
			func(r *Record) { r.At = r.At.Add(time.Minute); r.FramedIP = ip("10.1.0.99"); r.UserName = "device-70b" },
			func(s Session) bool { return s.FramedIP == ip("10.1.0.99") && s.UserName == "device-70b" }},
		{"an empty value erases nothing",
			func(r *Record) {
				r.At = r.At.Add(time.Minute)
				r.FramedIP, r.UserName, r.CallingStationID, r.NASIdentifier = netip.Addr{}, "", "", ""
			},
			func(s Session) bool {
				return s.FramedIP == ip("10.1.0.70") && s.UserName == "device-70" && s.CallingStationID != "" && s.NASIdentifier == "lobby"
			}},
		{"an older record does not overwrite",
			func(r *Record) { r.At = r.At.Add(-time.Minute); r.FramedIP = ip("10.1.0.1"); r.CalledStationID = "old" },
			func(s Session) bool {
				return s.FramedIP == ip("10.1.0.70") && s.CalledStationID == "0A-00-00-00-00-01:Hotel"
			}},
		{"an older record fills in what is missing",
			func(r *Record) { r.At = r.At.Add(-time.Minute); r.NASIPv6Address = ip("2001:db8::10") },
			func(s Session) bool { return s.NASIPv6Address == ip("2001:db8::10") }},
		{"stay and device are kept once known",
			func(r *Record) { r.At = r.At.Add(time.Minute); r.StayID, r.DeviceID = 8, 80 },
			func(s Session) bool { return s.StayID == 7 && s.DeviceID == 70 }},
		{"an older record moves the start earlier, not the update time",
			func(r *Record) { r.At = t0.Add(time.Minute); r.SessionTime = 2 * time.Minute },
			func(s Session) bool {
				return s.StartedAt.Equal(t0.Add(-time.Minute)) && s.UpdatedAt.Equal(t0.Add(5*time.Minute)) && s.SessionTime == 5*time.Minute
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			r := rec(Interim, 5*time.Minute, 100, 100)
			tt.tweak(&r)
			merge(&s, &r)
			if !tt.check(s) {
				t.Errorf("after merge: %+v", s)
			}
		})
	}
}

// TestMergeIsOrderFree: any order of a session's records (each perhaps
// repeated) gives the same counters, times and open/closed state.
func TestMergeIsOrderFree(t *testing.T) {
	records := []Record{
		rec(Start, 0, 0, 0),
		rec(Interim, 5*time.Minute, 100, 200),
		rec(Interim, 10*time.Minute, 300, 400),
		stop(15*time.Minute, 500, 600, "User-Request"),
	}
	var want Session
	for i := range records {
		merge(&want, &records[i])
	}
	perm := []int{0, 1, 2, 3}
	var permute func(k int)
	permute = func(k int) {
		if k == len(perm) {
			var got Session
			for _, i := range append(perm, perm[0], perm[2]) { // and two repeats
				merge(&got, &records[i])
			}
			if !same(&got, &want) {
				t.Errorf("order %v: %+v\nwant %+v", perm, got, want)
			}
			return
		}
		for i := k; i < len(perm); i++ {
			perm[k], perm[i] = perm[i], perm[k]
			permute(k + 1)
			perm[k], perm[i] = perm[i], perm[k]
		}
	}
	permute(0)
}
