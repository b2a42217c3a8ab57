package api

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func (f *fixture) count(t *testing.T, q string) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIdempotentCreate(t *testing.T) {
	f := newFixture(t)
	key := map[string]string{"Idempotency-Key": "pms-checkin-RES-42"}
	first := f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody("RES-42"), header: key})
	if first.status != http.StatusCreated {
		t.Fatalf("create: %d %s", first.status, first.body)
	}
	var a, b stayJSON
	first.json(t, &a)

	// The retry: the same stay, no second one, and a working code.
	retry := f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody("RES-42"), header: key})
	if retry.status != http.StatusCreated || retry.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %v %s", retry.status, retry.header, retry.body)
	}
	retry.json(t, &b)
	if b.ID != a.ID || retry.header.Get("Location") != first.header.Get("Location") || b.VoucherCode == "" {
		t.Fatalf("retry = %+v, first = %+v", b, a)
	}
	if n := f.count(t, `SELECT COUNT(*) FROM stays`); n != 1 {
		t.Fatalf("%d stays after a retried create, want 1", n)
	}
	if _, err := f.hotel.StayForVoucher(t.Context(), admin, b.VoucherCode); err != nil {
		t.Fatalf("the replayed code does not work: %v", err)
	}
	// The code is never kept.
	if n := f.count(t, fmt.Sprintf(`SELECT COUNT(*) FROM api_idempotency WHERE body LIKE '%%%s%%' OR body LIKE '%%%s%%'`, a.VoucherCode, b.VoucherCode)); n != 0 {
		t.Fatal("the idempotency table holds a voucher code")
	}

	// The same key with another body: 422, nothing made.
	f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody("RES-43"), header: key}).problem(t, 422, "idempotency-key-reused")
	// ... or another path.
	f.do(t, req{method: "POST", path: fmt.Sprintf("/api/v1/stays/%d/end", a.ID), token: "pms", header: key}).problem(t, 422, "idempotency-key-reused")
	if n := f.count(t, `SELECT COUNT(*) FROM stays`); n != 1 {
		t.Fatalf("%d stays, want 1", n)
	}
	// Keys are per token: another token's same key is a new request.
	other := f.do(t, req{method: "POST", path: "/api/v1/stays", token: "desk", body: stayBody("RES-44"), header: key})
	if other.status != http.StatusCreated || other.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another token's key: %d %s", other.status, other.body)
	}

	// A refused request keeps nothing: fixing it and retrying with the
	// same key works.
	bad := map[string]string{"Idempotency-Key": "k2"}
	f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: `{"external_id":"R","room":"1","guest_name":"A"}`, header: bad}).problem(t, 422, "invalid")
	if ex := f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody("RES-45"), header: bad}); ex.status != 201 {
		t.Fatalf("retry after a refusal: %d %s", ex.status, ex.body)
	}

	// Ending twice with a key: the second answer is the first, not a 409.
	endKey := map[string]string{"Idempotency-Key": "end-RES-42"}
	path := fmt.Sprintf("/api/v1/stays/%d/end", a.ID)
	e1 := f.do(t, req{method: "POST", path: path, token: "pms", header: endKey})
	e2 := f.do(t, req{method: "POST", path: path, token: "pms", header: endKey})
	if e1.status != 200 || e2.status != 200 || string(e1.body) != string(e2.body) {
		t.Fatalf("end twice: %d %s / %d %s", e1.status, e1.body, e2.status, e2.body)
	}
	// A replayed create of an ended stay cannot get a new code: 409.
	f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody("RES-42"), header: key}).problem(t, 409, "conflict")

	f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody("RES-46"), header: map[string]string{"Idempotency-Key": "bad\u00e9"}}).problem(t, 400, "bad-request")

	// Keys expire after a day.
	f.clock.Advance(IdempotencyTTL + time.Minute)
	f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody("RES-47"), header: map[string]string{"Idempotency-Key": "fresh"}})
	if n := f.count(t, `SELECT COUNT(*) FROM api_idempotency`); n != 1 {
		t.Fatalf("%d idempotency rows after a day, want only the fresh one", n)
	}

	rows := f.auditRows(t)
	var replays int
	for _, e := range rows {
		if e.Action == "api.call" && e.Actor == "api:pms" && strings.Contains(e.Detail, "idempotent replay") {
			replays++
		}
	}
	if replays < 2 {
		t.Fatalf("%d replays audited, want 2", replays)
	}
}

// TestIdempotentConcurrent: many simultaneous retries make one stay.
func TestIdempotentConcurrent(t *testing.T) {
	f := newFixture(t)
	key := map[string]string{"Idempotency-Key": "rush"}
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Go(func() {
			ex := f.do(t, req{method: "POST", path: "/api/v1/stays", token: "pms", body: stayBody("RES-rush"), header: key})
			statuses[i] = ex.status
		})
	}
	wg.Wait()
	if n := f.count(t, `SELECT COUNT(*) FROM stays`); n != 1 {
		t.Fatalf("%d stays from concurrent retries (%v), want 1", n, statuses)
	}
	for _, s := range statuses {
		if s != http.StatusCreated && s != http.StatusConflict {
			t.Fatalf("statuses %v: want 201 or 409", statuses)
		}
	}
}
