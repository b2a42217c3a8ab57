package loadgen

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Run authenticates Options.Concurrency simulated devices against
// Options.Server, over and over, until Options.Count authentications have
// been attempted or Options.Duration has passed (authentications under way
// then are finished), or ctx is done. It returns an error only when the run
// could not start; failed authentications are counted in the Report.
func Run(ctx context.Context, opts Options) (Report, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Report{}, err
	}
	if o.newPeer == nil {
		o.newPeer = newEAPTLSPeer
	}

	devices := make([]*device, o.Concurrency)
	defer func() {
		for _, d := range devices {
			if d != nil {
				d.nas.Close()
			}
		}
	}()
	for i := range devices {
		n, err := dialNAS(ctx, o)
		if err != nil {
			return Report{}, err
		}
		devices[i] = &device{opts: o, nas: n, tls: o.tlsConfig(), station: stationID(i)}
	}

	// Every authentication in flight may need MaxRounds exchanges of up to
	// (Retries+1)*Timeout; past that the run is stuck and ctx ends it.
	var stopStarting time.Time
	if o.Duration > 0 {
		stopStarting = time.Now().Add(o.Duration)
		hard := o.Duration + time.Duration(o.MaxRounds*(o.Retries+1))*o.Timeout
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, hard)
		defer cancel()
	}
	var started atomic.Int64
	take := func() bool {
		if ctx.Err() != nil || (!stopStarting.IsZero() && !time.Now().Before(stopStarting)) {
			return false
		}
		return o.Count == 0 || started.Add(1) <= int64(o.Count)
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		rounds    int
		rep       = Report{Failures: map[Cause]int{}}
	)
	record := func(d time.Duration, out outcome, err error) {
		mu.Lock()
		defer mu.Unlock()
		rep.Attempts++
		if err != nil {
			rep.Failures[causeOf(err)]++
			if rep.FirstError == "" {
				rep.FirstError = err.Error()
			}
			return
		}
		rep.Auths++
		latencies = append(latencies, d)
		rounds += out.rounds
		if out.resumed {
			rep.Resumed++
		}
	}

	begin := time.Now()
	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Go(func() {
			for take() {
				t0 := time.Now()
				out, err := d.authenticate(ctx)
				record(time.Since(t0), out, err)
			}
		})
	}
	wg.Wait()
	rep.Elapsed = time.Since(begin)

	for _, d := range devices {
		rep.Retransmits += d.nas.retransmits
		rep.LateMessageAuthenticators += d.nas.late
	}
	if rep.Elapsed > 0 {
		rep.AuthsPerSec = float64(rep.Auths) / rep.Elapsed.Seconds()
	}
	if rep.Auths > 0 {
		rep.RoundsPerAuth = float64(rounds) / float64(rep.Auths)
	}
	slices.Sort(latencies)
	rep.P50 = percentile(latencies, 50)
	rep.P90 = percentile(latencies, 90)
	rep.P99 = percentile(latencies, 99)
	return rep, nil
}
