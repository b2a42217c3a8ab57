package sessions_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"keycard/internal/store"
	"keycard/sessions"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "keycard-example")
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, filepath.Join(dir, "keycard.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := sessions.Migrate(ctx, db); err != nil {
		panic(err)
	}
	now := time.Date(2026, 6, 1, 20, 0, 0, 0, time.UTC)
	acct, err := sessions.New(ctx, db, sessions.Options{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	defer acct.Close()

	// radiusd decoded an Accounting-Request (Start), then an Interim-Update
	// that the NAS sent twice.
	phone := sessions.Record{
		Kind: sessions.Start, NAS: "ap-lobby", AcctSessionID: "5F3A0001", At: now.Add(-time.Hour),
		StayID: 1, DeviceID: 1, FramedIP: netip.MustParseAddr("10.1.0.23"),
	}
	if _, err := acct.Record(ctx, phone); err != nil {
		panic(err)
	}
	interim := phone
	interim.Kind, interim.At, interim.SessionTime = sessions.Interim, now, time.Hour
	interim.InputOctets, interim.OutputOctets = 5_000_000_000, 250_000_000 // with Gigawords
	for range 2 {
		if _, err := acct.Record(ctx, interim); err != nil { // nil: durable, acknowledge it
			panic(err)
		}
	}

	// The front desk asks who is online for stay 1, and what it used.
	for _, s := range acct.Online(1, 0) {
		fmt.Println(s.NAS, s.AcctSessionID, s.FramedIP, s.StartedAt.Format(time.Kitchen), s.Open(), s.Stale)
	}
	u, _ := acct.StayUsage(ctx, 1)
	fmt.Println(u.Sessions, u.Online, u.TimeOnline, u.InputOctets, u.OutputOctets)

	// The access point reboots and says so (Accounting-On).
	n, _ := acct.CloseNAS(ctx, "ap-lobby", now.Add(time.Minute), "NAS-Reboot")
	fmt.Println("closed", n, "online", len(acct.Online(1, 0)))
	// Output:
	// ap-lobby 5F3A0001 10.1.0.23 7:00PM true false
	// 1 1 1h0m0s 5000000000 250000000
	// closed 1 online 0
}
