package radiusd_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"keycard/radiusd/dastest"
)

// BenchmarkCheckout1000 is a conference's check-out: 1,000 live sessions
// whose stays end at the same second. It measures from the check-out to
// each Disconnect-ACK (a loopback DAS responder answers), through the
// whole enforcer: the timer, who must go, their sessions, the
// Disconnect-Requests and the outcomes recorded. The goal is every ACK
// within 1 s (p99).
func BenchmarkCheckout1000(b *testing.B) {
	const n = 1000
	for range b.N {
		b.StopTimer()
		f := &enforcerFixture{t: b, hotel: newFakeHotel(), sessions: &fakeSessions{}, das: dastest.New(b, testSecret, dastest.Ack)}
		f.setUp(b)
		checkOut := time.Now().Add(200 * time.Millisecond)
		for i := range n {
			f.hotel.addStay(int64(i+1), checkOut, int64(i+1))
			f.session(int64(i+1), int64(i+1), fmt.Sprintf("S-%d", i+1))
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.enforcer.Run(ctx) }()
		b.StartTimer()
		reqs := f.das.WaitRequests(n, 10*time.Second)
		b.StopTimer()
		// The ACK leaves the responder as soon as the request is in; its
		// arrival is the responder's receive time.
		lat := make([]time.Duration, 0, len(reqs))
		for _, r := range reqs {
			lat = append(lat, r.Received.Sub(checkOut))
		}
		for i := 1; i <= n; i++ {
			f.waitMarkedB(b, int64(i), 10*time.Second)
		}
		cancel()
		<-done
		if len(reqs) != n {
			b.Fatalf("%d of %d Disconnect-Requests arrived", len(reqs), n)
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	}
}
