package webhooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// enqueueStays puts n stay.created events in the outbox for endpoints, as
// the Feed would, and returns their ids.
func enqueueStays(t testing.TB, db *sql.DB, clock *fakeClock, n int, endpoints ...Endpoint) []string {
	t.Helper()
	h := &fakeHotel{}
	var stays []Endpoint
	for _, ep := range endpoints {
		ep.Events = []string{StayCreated}
		stays = append(stays, ep)
	}
	f := newFeed(t, db, FeedConfig{Endpoints: stays, Hotel: h, Now: clock.Now})
	start := len(h.entries)
	for i := range n {
		h.add("stay.create", "stay:"+strconv.Itoa(i+1))
	}
	follow(t, f)
	var ids []string
	for _, e := range h.entries[start:] {
		ids = append(ids, "audit-"+strconv.FormatInt(e.ID, 10))
	}
	return ids
}

func newDispatcher(t testing.TB, db *sql.DB, cfg DispatcherConfig) *Dispatcher {
	t.Helper()
	d, err := NewDispatcher(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func deliveries(t testing.TB, db *sql.DB) map[string]Delivery {
	t.Helper()
	list, err := ListDeliveries(context.Background(), db, DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Delivery{}
	for _, d := range list {
		out[d.EventID+" "+d.Endpoint] = d
	}
	return out
}

func only(t testing.TB, db *sql.DB) Delivery {
	t.Helper()
	list, err := ListDeliveries(context.Background(), db, DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d deliveries, want 1: %+v", len(list), list)
	}
	return list[0]
}

// A delivery is the event's exact body, signed, with its id and type in
// the headers.
func TestDeliverySignedAndIdentified(t *testing.T) {
	db, clock := openDB(t), newClock()
	rc := newReceiver(t, nil)
	ep := rc.endpoint()
	enqueueStays(t, db, clock, 1, ep)
	d := newDispatcher(t, db, DispatcherConfig{Endpoints: []Endpoint{ep}, Now: clock.Now})
	if n := d.DeliverDue(context.Background()); n != 1 {
		t.Fatalf("DeliverDue made %d attempts, want 1", n)
	}
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if err := Verify(testSecret, r.Header.Get(SignatureHeader), r.Body, clock.Now(), time.Minute); err != nil {
		t.Errorf("signature: %v", err)
	}
	if got := outbox(t, db)[0].Body; string(r.Body) != got {
		t.Errorf("body = %s, want as enqueued %s", r.Body, got)
	}
	var ev Event
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		t.Fatal(err)
	}
	if r.Header.Get(EventIDHeader) != ev.ID || r.Header.Get(EventTypeHeader) != StayCreated || r.Header.Get(AttemptHeader) != "1" ||
		r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", r.Header)
	}
	dl := only(t, db)
	if dl.State != StateDelivered || dl.Attempts != 1 || dl.LastStatus != 200 || dl.DeliveredAt == nil || !dl.DeliveredAt.Equal(t0) {
		t.Errorf("delivery = %+v", dl)
	}
	// Delivered is done.
	if n := d.DeliverDue(context.Background()); n != 0 {
		t.Errorf("DeliverDue after delivery made %d attempts", n)
	}
}

// A failing endpoint is retried on the backoff schedule — not before —
// until it answers 2xx; the clock is the test's, nobody sleeps.
func TestRetriesWithBackoffUntil2xx(t *testing.T) {
	ctx := context.Background()
	db, clock := openDB(t), newClock()
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	ep := rc.endpoint()
	enqueueStays(t, db, clock, 1, ep)
	backoff := ExponentialBackoff(time.Minute, time.Hour)
	d := newDispatcher(t, db, DispatcherConfig{Endpoints: []Endpoint{ep}, Now: clock.Now, Backoff: backoff, MaxAttempts: 5})

	for attempt := 1; attempt <= 3; attempt++ {
		if n := d.DeliverDue(ctx); n != 1 {
			t.Fatalf("attempt %d: DeliverDue made %d attempts, want 1", attempt, n)
		}
		dl := only(t, db)
		wait := backoff(attempt) // 1m, 2m, 4m
		if dl.State != StatePending || dl.Attempts != attempt || dl.LastStatus != 503 || !strings.HasPrefix(dl.LastError, "HTTP 503") ||
			dl.NextAttemptAt == nil || !dl.NextAttemptAt.Equal(clock.Now().Add(wait)) {
			t.Fatalf("after attempt %d: %+v, want pending, next in %s", attempt, dl, wait)
		}
		clock.Advance(wait - time.Second)
		if n := d.DeliverDue(ctx); n != 0 {
			t.Fatalf("retried %s early", time.Second)
		}
		clock.Advance(time.Second)
	}
	if n := d.DeliverDue(ctx); n != 1 {
		t.Fatalf("4th attempt: %d attempts", n)
	}
	dl := only(t, db)
	if dl.State != StateDelivered || dl.Attempts != 4 || dl.LastStatus != 204 || dl.LastError != "" {
		t.Errorf("after the 2xx: %+v", dl)
	}
	reqs := rc.requests()
	if len(reqs) != 4 || reqs[3].Header.Get(AttemptHeader) != "4" {
		t.Fatalf("receiver got %d requests", len(reqs))
	}
	// Every attempt carries the same event, signed afresh.
	for _, r := range reqs {
		if string(r.Body) != string(reqs[0].Body) || r.Header.Get(EventIDHeader) != reqs[0].Header.Get(EventIDHeader) {
			t.Errorf("a retry differs from the first attempt")
		}
	}
	if reqs[3].Header.Get(SignatureHeader) == reqs[0].Header.Get(SignatureHeader) {
		t.Errorf("a retry 7 minutes later has the first attempt's signature timestamp")
	}
	if err := Verify(testSecret, reqs[3].Header.Get(SignatureHeader), reqs[3].Body, clock.Now(), time.Minute); err != nil {
		t.Errorf("the last attempt's signature: %v", err)
	}
}

// After MaxAttempts failures a delivery is failed: kept and visible with
// its last error, never tried again.
func TestFailedAfterMaxAttempts(t *testing.T) {
	ctx := context.Background()
	db, clock := openDB(t), newClock()
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusInternalServerError })
	ep := rc.endpoint()
	enqueueStays(t, db, clock, 1, ep)
	var logs logBuffer
	d := newDispatcher(t, db, DispatcherConfig{Endpoints: []Endpoint{ep}, Now: clock.Now, MaxAttempts: 3,
		Backoff: func(int) time.Duration { return time.Minute }, Logger: logs.logger()})
	for range 5 {
		d.DeliverDue(ctx)
		clock.Advance(time.Hour)
	}
	if got := len(rc.requests()); got != 3 {
		t.Errorf("receiver got %d requests, want 3", got)
	}
	dl := only(t, db)
	if dl.State != StateFailed || dl.Attempts != 3 || dl.LastStatus != 500 || dl.NextAttemptAt != nil || dl.DeliveredAt != nil {
		t.Errorf("delivery = %+v, want failed after 3 attempts", dl)
	}
	failed, err := ListDeliveries(ctx, db, DeliveryFilter{State: StateFailed})
	if err != nil || len(failed) != 1 {
		t.Errorf("failed deliveries = %v, %v", failed, err)
	}
	if !strings.Contains(logs.String(), "webhook delivery failed for good") {
		t.Errorf("no log line for the failure:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), string(testSecret)) {
		t.Errorf("the log shows the secret:\n%s", logs.String())
	}
}

// A Retry-After longer than the backoff is honoured.
func TestRetryAfter(t *testing.T) {
	db, clock := openDB(t), newClock()
	rc := newReceiver(t, func(_ int, r *http.Request) int { return http.StatusTooManyRequests })
	rc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	ep := rc.endpoint()
	enqueueStays(t, db, clock, 1, ep)
	d := newDispatcher(t, db, DispatcherConfig{Endpoints: []Endpoint{ep}, Now: clock.Now, Backoff: func(int) time.Duration { return time.Second }})
	d.DeliverDue(context.Background())
	if dl := only(t, db); dl.NextAttemptAt == nil || !dl.NextAttemptAt.Equal(t0.Add(2*time.Minute)) || dl.LastStatus != 429 {
		t.Errorf("delivery = %+v, want the next attempt in 2m", dl)
	}
}

// At most MaxInFlight attempts run at once per endpoint; a slow endpoint
// does not hold up another.
func TestBoundedInFlight(t *testing.T) {
	db, clock := openDB(t), newClock()
	var now, peak atomic.Int32
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		now.Add(-1)
	}))
	defer slow.Close()
	fast := newReceiver(t, nil)
	slowEP := Endpoint{URL: slow.URL, Secret: testSecret}
	enqueueStays(t, db, clock, 10, slowEP, fast.endpoint())
	d := newDispatcher(t, db, DispatcherConfig{Endpoints: []Endpoint{slowEP, fast.endpoint()}, Now: clock.Now, MaxInFlight: 3})
	done := make(chan int)
	go func() { done <- d.DeliverDue(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(fast.requests()) < 10 || peak.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("fast endpoint got %d of 10 while the slow one held %d", len(fast.requests()), peak.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if n := <-done; n != 20 {
		t.Errorf("DeliverDue made %d attempts, want 20", n)
	}
	if p := peak.Load(); p != 3 {
		t.Errorf("%d attempts in flight to one endpoint at once, want at most 3", p)
	}
}

// A redirect to another host is never followed: the event does not leave
// for the other host, and the delivery is not done.
func TestRedirectToAnotherHostNotFollowed(t *testing.T) {
	db, clock := openDB(t), newClock()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	// other.URL is 127.0.0.1:port; the same address as localhost is
	// another host by name.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	var sameHost atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, otherURL+"/steal", http.StatusTemporaryRedirect)
		case "/here":
			http.Redirect(w, r, "/final", http.StatusPermanentRedirect)
		case "/final":
			sameHost.Add(1)
		}
	}))
	defer rc.Close()
	moved := Endpoint{URL: rc.URL + "/moved", Secret: testSecret}
	here := Endpoint{URL: rc.URL + "/here", Secret: testSecret}
	enqueueStays(t, db, clock, 1, moved, here)
	// Even a client of the caller's without a redirect rule gets it.
	d := newDispatcher(t, db, DispatcherConfig{Endpoints: []Endpoint{moved, here}, Now: clock.Now, Client: &http.Client{}})
	d.DeliverDue(context.Background())
	if elsewhere.Load() != 0 {
		t.Errorf("the redirect to another host was followed")
	}
	if sameHost.Load() != 1 {
		t.Errorf("the 308 within the same host was not followed")
	}
	all := deliveries(t, db)
	if dl := all["audit-1 "+moved.URL]; dl.State != StatePending || dl.LastStatus != 307 || !strings.Contains(dl.LastError, "not followed") {
		t.Errorf("redirected delivery = %+v", dl)
	}
	if dl := all["audit-1 "+here.URL]; dl.State != StateDelivered {
		t.Errorf("same-host delivery = %+v", dl)
	}
}

// An endpoint that does not answer in time is a failed attempt, retried.
func TestAttemptTimeout(t *testing.T) {
	db, clock := openDB(t), newClock()
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stuck)
	ep := Endpoint{URL: srv.URL, Secret: testSecret}
	enqueueStays(t, db, clock, 1, ep)
	d := newDispatcher(t, db, DispatcherConfig{Endpoints: []Endpoint{ep}, Now: clock.Now, Timeout: 50 * time.Millisecond})
	d.DeliverDue(context.Background())
	if dl := only(t, db); dl.State != StatePending || dl.Attempts != 1 || !strings.Contains(dl.LastError, "no answer within 50ms") {
		t.Errorf("delivery = %+v", dl)
	}
}

// Run delivers what the Feed enqueues, at once (OnEnqueue pokes it);
// after a crash mid-attempt (claimed, never recorded) a new Run retries
// it at its start.
func TestRunDeliversAndResumesAfterACrash(t *testing.T) {
	db, clock := openDB(t), newClock()
	var mu sync.Mutex
	got := map[string]int{}
	arrived := make(chan string, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get(EventIDHeader)]++
		mu.Unlock()
		arrived <- r.Header.Get(EventIDHeader)
	}))
	defer rc.Close()
	ep := Endpoint{URL: rc.URL, Secret: testSecret, Events: []string{StayCreated, StayEnded}}

	// The crash: an attempt claimed (counted, leased an hour ahead) and
	// never sent or recorded.
	enqueueStays(t, db, clock, 1, ep)
	crashed := newDispatcher(t, db, DispatcherConfig{Endpoints: []Endpoint{ep}, Now: clock.Now, Backoff: func(int) time.Duration { return time.Hour }})
	if c, err := crashed.claim(context.Background(), crashed.endpoints[0], 1); err != nil || len(c) != 1 {
		t.Fatalf("claim = %v, %v", c, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	d := newDispatcher(t, db, DispatcherConfig{Endpoints: []Endpoint{ep}, Now: clock.Now})
	stopped := make(chan error)
	go func() { stopped <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	wait := func(id string) {
		t.Helper()
		select {
		case got := <-arrived:
			if got != id {
				t.Fatalf("arrived %s, want %s", got, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not arrive", id)
		}
	}
	wait("audit-1")

	h := &fakeHotel{}
	h.add("stay.create", "stay:1") // audit-1 again: already in the outbox
	h.add("stay.end", "stay:1")
	f, err := NewFeed(db, FeedConfig{Endpoints: []Endpoint{ep}, Hotel: h, Now: clock.Now, OnEnqueue: d.Poke})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE webhook_cursors SET position = 0 WHERE name = ?`, auditCursor); err != nil {
		t.Fatal(err)
	}
	follow(t, f)
	wait("audit-2")
	deadline := time.Now().Add(10 * time.Second)
	for only := deliveries(t, db)["audit-2 "+ep.URL]; only.State != StateDelivered; only = deliveries(t, db)["audit-2 "+ep.URL] {
		if time.Now().After(deadline) {
			t.Fatalf("audit-2 not marked delivered: %+v", only)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if got["audit-1"] != 1 || got["audit-2"] != 1 {
		t.Errorf("arrivals = %v, want each once", got)
	}
	if dl := deliveries(t, db)["audit-1 "+ep.URL]; dl.Attempts != 2 {
		t.Errorf("audit-1 = %+v, want 2 attempts (the crashed one counts)", dl)
	}
}

// Prune removes old events whose deliveries are over, and keeps the
// pending.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	db, clock := openDB(t), newClock()
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n == 1 {
			return 200
		}
		return 503
	})
	ep := rc.endpoint()
	enqueueStays(t, db, clock, 2, ep)
	d := newDispatcher(t, db, DispatcherConfig{Endpoints: []Endpoint{ep}, Now: clock.Now, MaxInFlight: 1, Retention: 24 * time.Hour})
	d.DeliverDue(ctx)
	clock.Advance(25 * time.Hour)
	n, err := d.Prune(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if left := outbox(t, db); len(left) != 1 || left[0].EventID != "audit-2" {
		t.Errorf("left = %v, want the pending audit-2", eventIDs(left))
	}
}

func TestEndpointNeverShowsItsSecret(t *testing.T) {
	ep := Endpoint{URL: "https://hook:pw@pms.example/keycard", Secret: testSecret}
	var logs logBuffer
	logs.logger().Info("x", "endpoint", ep, "any", any(ep))
	for _, s := range []string{ep.String(), ep.GoString(), logs.String(), fmtAll(ep)} {
		if strings.Contains(s, string(testSecret)) || strings.Contains(s, "pw") {
			t.Errorf("shows a secret: %s", s)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://pms.example/keycard":     true,
		"https://10.0.0.5:8443/hook":      true,
		"http://127.0.0.1:8080/hook":      true,
		"http://[::1]:8080/hook":          true,
		"http://localhost/hook":           true,
		"http://pms.example/hook":         false,
		"http://10.0.0.5/hook":            false,
		"ftp://pms.example/":              false,
		"pms.example/hook":                false,
		"https://":                        false,
		"https://user:pass@pms.example/":  false,
		"https://pms.example:bad/":        false,
		"http://127.0.0.1.evil.example/x": false,
	} {
		if err := CheckURL(url); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", url, err, ok)
		}
	}
}

func TestExponentialBackoff(t *testing.T) {
	b := ExponentialBackoff(10*time.Second, time.Hour)
	for n, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 9: 2560 * time.Second, 10: time.Hour, 100: time.Hour} {
		if got := b(n); got != want {
			t.Errorf("backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s", v, v, v, v)
}
