package sessions

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
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

// TestWriterMergesAsMerge: the writer's SQL (mergeSession) does what merge,
// the rules in Go, does, record after record, over random sequences of one
// session's records (repeats, reordering, identifiers that come and go, a
// stay learnt late, Stops early and late); and what Record returns and the
// cache holds is the row as committed, whether the writer learnt it by
// merging its own copy or from the database: some of the records come
// from another process, whose writes the server's writer cannot know.
func TestWriterMergesAsMerge(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	pick := func(n int) int { return rnd.IntN(n) }
	texts := []string{"", "a", "b"}
	addrs := []netip.Addr{{}, netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("2001:db8::1")}
	f := newFixture(t)
	other := f.reopen(t) // keycard session kick, say
	for seq := range 40 {
		id := fmt.Sprintf("m%d", seq)
		var want Session
		for i := range 12 {
			kind := []Kind{Start, Interim, Interim, Stop}[pick(4)]
			at := time.Duration(pick(30)) * time.Minute
			r := Record{
				Kind: kind, NAS: "ap-lobby", AcctSessionID: id, At: t0.Add(at),
				StayID: int64([]int{0, 0, 7, 8}[pick(4)]), DeviceID: int64([]int{0, 70, 71}[pick(3)]),
				UserName: texts[pick(3)], CallingStationID: texts[pick(3)], CalledStationID: texts[pick(3)],
				NASIdentifier: texts[pick(3)],
				FramedIP:      addrs[pick(4)], NASAddress: addrs[pick(4)], NASIPAddress: addrs[pick(4)], NASIPv6Address: addrs[pick(4)],
				SessionTime:  time.Duration(pick(int(at/time.Minute)+1)) * time.Minute,
				InputOctets:  uint64(pick(1000)) << uint(pick(40)),
				OutputOctets: uint64(pick(1000)),
				InputPackets: uint64(pick(10)), OutputPackets: uint64(pick(10)),
				TerminateCause: []string{"", "User-Request", "Lost-Carrier"}[pick(3)],
			}
			merge(&want, &r)
			s := f.s
			if pick(4) == 0 {
				s = other
			}
			got, err := s.Record(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			want.ID = got.ID
			if !same(&got, &want) {
				t.Fatalf("%s, record %d (%+v):\nRecord %+v\nmerge  %+v", id, i, r, got, want)
			}
			if db := f.get(t, want.ID); !same(&db, &want) {
				t.Fatalf("%s, record %d (%+v):\ndatabase %+v\nmerge    %+v", id, i, r, db, want)
			}
		}
		// A record of it to the server brings the server's cache up to
		// date with what the other process wrote.
		late := Record{Kind: Interim, NAS: "ap-lobby", AcctSessionID: id, At: t0}
		merge(&want, &late)
		if got, err := f.s.Record(context.Background(), late); err != nil || !same(&got, &want) {
			t.Fatalf("%s: late record: %+v, %v\nwant %+v", id, got, err, want)
		}
		if on := f.s.Online(0, 0); want.Open() != slices.ContainsFunc(on, func(s Session) bool { return same(&s, &want) }) {
			t.Fatalf("%s: open=%v, cache %+v", id, want.Open(), on)
		}
	}
}
