package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keycard/configs"
	"keycard/internal/store"
	"keycard/webhooks"
)

// webhookReceiver is the hotel system at the other end: it records every
// request and answers 503 until told to accept.
type webhookReceiver struct {
	*httptest.Server
	accept atomic.Bool
	mu     sync.Mutex
	got    []webhookRequest
}

type webhookRequest struct {
	status int
	header http.Header
	body   []byte
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	rc := &webhookReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		status := http.StatusServiceUnavailable
		if rc.accept.Load() {
			status = http.StatusOK
		}
		rc.mu.Lock()
		rc.got = append(rc.got, webhookRequest{status: status, header: r.Header.Clone(), body: body})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *webhookReceiver) requests() []webhookRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// withWebhook adds a webhook to every event for url to the harness's
// config and returns its secret.
func (h *harness) withWebhook(url string) []byte {
	h.t.Helper()
	secret := []byte("6d1f0c9a3b7e25d48f1a6c0e9b3d7f2a5c8e1b4d7f0a3c6e9b2d5f8a1c4e7b0d")
	path := filepath.Join(h.dir, "webhook.secret")
	if err := os.WriteFile(path, append(secret, '\n'), 0o600); err != nil {
		h.t.Fatal(err)
	}
	f, err := os.OpenFile(h.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "webhooks:\n  - url: %s\n    secret_file: %s\n", url, path); err != nil {
		h.t.Fatal(err)
	}
	return secret
}

// webhookDeliveries is `keycard webhook deliveries --json`, as an admin
// (or a script) runs it while serve runs.
func (h *harness) webhookDeliveries() []webhooks.Delivery {
	h.t.Helper()
	var list []webhooks.Delivery
	out := h.cli("webhook", "deliveries", "--json", "--limit", "0")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		h.t.Fatalf("webhook deliveries --json: %v\n%s", err, out)
	}
	return list
}

// TestWebhookOutboxSurvivesKill9: events committed to the outbox are
// delivered even when serve dies (SIGKILL: no shutdown, nothing flushed)
// between the commit and the delivery. The receiver first answers 503; a
// stay is created and ended by another process; once the outbox holds the
// events (each tried and refused), serve is killed; the receiver starts
// accepting; serve starts again and delivers every event exactly as
// enqueued, with a valid signature, none lost.
func TestWebhookOutboxSurvivesKill9(t *testing.T) {
	requireTool(t, "radclient") // serveProcess waits for Status-Server with it
	h := newHarness(t)
	rc := newWebhookReceiver(t)
	secret := h.withWebhook(rc.URL + "/keycard")
	h.run("ca", "init")
	h.run("nas", "add", "--name", "ap-lobby", "--address", "127.0.0.1", "--secret", h.secret)
	s := h.serveProcess("serve")

	var stay struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(h.cli("stay", "create", "--json", "--room", "204", "--guest", "Grace Hopper", "--check-out", "2d")), &stay); err != nil {
		t.Fatal(err)
	}
	h.cli("stay", "end", strconv.FormatInt(stay.ID, 10))
	var audit struct {
		Entries int64  `json:"entries"`
		Head    string `json:"head"`
	}
	if err := json.Unmarshal([]byte(h.cli("audit", "verify", "--json")), &audit); err != nil {
		t.Fatal(err)
	}

	// Wait until the outbox holds the stay's events and the head after
	// them, each tried at least once and refused.
	var before []webhooks.Delivery
	deadline := time.Now().Add(20 * time.Second)
	for {
		before = h.webhookDeliveries()
		types := map[string]bool{}
		tried := true
		for _, d := range before {
			types[d.Type] = true
			tried = tried && d.Attempts > 0 && d.State == webhooks.StatePending
		}
		if types[webhooks.StayCreated] && types[webhooks.StayEnded] && slices.ContainsFunc(before, func(d webhooks.Delivery) bool {
			return d.EventID == "audit-head-"+strconv.FormatInt(audit.Entries, 10)
		}) && tried {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox did not fill: %+v\n%s", before, tail(s.log(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, ok := s.waitLog(5*time.Second, `"msg":"audit log head"`, fmt.Sprintf(`"entries":%d`, audit.Entries), audit.Head); !ok {
		t.Errorf("serve did not log the audit head %d/%s\n%s", audit.Entries, audit.Head, tail(s.log(), 30))
	}
	s.kill9()
	for _, r := range rc.requests() {
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("a request was accepted before the kill")
		}
	}

	// What the outbox holds, as committed before the kill.
	enqueued := outboxBodies(t, filepath.Join(h.dir, "data", "keycard.db"))
	if len(enqueued) != len(before) {
		t.Fatalf("outbox has %d events, deliveries said %d", len(enqueued), len(before))
	}

	rc.accept.Store(true)
	s2 := h.serveProcess("serve-after-crash")
	deadline = time.Now().Add(20 * time.Second)
	for {
		after := h.webhookDeliveries()
		delivered := 0
		for _, d := range after {
			if d.State == webhooks.StateDelivered {
				delivered++
			}
		}
		if delivered == len(enqueued) && len(after) == len(enqueued) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered after the restart: %+v\n%s", after, tail(s2.log(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Every enqueued event arrived, byte for byte, signed; exactly once
	// accepted (delivery is at least once: a crash between the 2xx and its
	// record would send it again, with the same id).
	accepted := map[string]int{}
	for _, r := range rc.requests() {
		if r.status != http.StatusOK {
			continue
		}
		id := r.header.Get(webhooks.EventIDHeader)
		accepted[id]++
		want, ok := enqueued[id]
		switch {
		case !ok:
			t.Errorf("received %s, which is not in the outbox", id)
		case string(r.body) != want:
			t.Errorf("%s arrived as %s, enqueued as %s", id, r.body, want)
		}
		if err := webhooks.Verify(secret, r.header.Get(webhooks.SignatureHeader), r.body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("%s: signature: %v", id, err)
		}
	}
	types := map[string]bool{}
	for id, body := range enqueued {
		if accepted[id] != 1 {
			t.Errorf("%s accepted %d times, want once", id, accepted[id])
		}
		var ev webhooks.Event
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			t.Fatal(err)
		}
		types[ev.Type] = true
		switch ev.Type {
		case webhooks.StayCreated, webhooks.StayEnded:
			var data webhooks.StayData
			if err := json.Unmarshal(ev.Data, &data); err != nil {
				t.Fatal(err)
			}
			if data.StayID != stay.ID || data.Stay == nil || data.Stay.Room != "204" {
				t.Errorf("%s data = %+v", ev.ID, data)
			}
		case webhooks.AuditHead:
			var data webhooks.AuditHeadData
			if err := json.Unmarshal(ev.Data, &data); err != nil {
				t.Fatal(err)
			}
			if data.Entries == audit.Entries && data.Head != audit.Head {
				t.Errorf("audit.head at %d entries says %s, audit verify says %s", data.Entries, data.Head, audit.Head)
			}
		}
	}
	for _, want := range []string{webhooks.StayCreated, webhooks.StayEnded, webhooks.AuditHead} {
		if !types[want] {
			t.Errorf("no %s event among %v", want, types)
		}
	}
	if strings.Contains(s.log()+s2.log(), string(secret)) {
		t.Errorf("serve logged the webhook secret")
	}
}

// outboxBodies reads the outbox's events (event id → body) straight from
// the database file.
func outboxBodies(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT event_id, body FROM webhook_events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			t.Fatal(err)
		}
		out[id] = body
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// configs keeps its own list of event types for validation: it must be
// package webhooks' list.
func TestWebhookEventListsAgree(t *testing.T) {
	if got, want := configs.WebhookEvents(), webhooks.EventTypes(); !slices.Equal(got, want) {
		t.Errorf("configs.WebhookEvents() = %v, webhooks.EventTypes() = %v", got, want)
	}
}

func TestWebhookDeliveriesCommand(t *testing.T) {
	h := newHarness(t)
	h.run("db", "migrate")
	if out := h.run("webhook", "deliveries"); !strings.Contains(out, "No webhooks are configured") {
		t.Errorf("webhook deliveries with none configured:\n%s", out)
	}
	var list []webhooks.Delivery
	h.runJSON(&list, "webhook", "deliveries")
	if list == nil || len(list) != 0 {
		t.Errorf("--json = %#v, want []", list)
	}
	if _, err := h.try("webhook", "deliveries", "--state", "lost"); err == nil || !strings.Contains(err.Error(), "use pending, delivered or failed") {
		t.Errorf("--state lost: %v", err)
	}
}

// A secret file that cannot be used is refused when the config is loaded
// (by every command, serve included), naming the field and the fix.
func TestWebhookBadSecretRefused(t *testing.T) {
	h := newHarness(t)
	h.withWebhook("https://pms.hotel.example/keycard")
	if err := os.Chmod(filepath.Join(h.dir, "webhook.secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := h.try("db", "migrate")
	if err == nil || !strings.Contains(out+err.Error(), "webhooks[0].secret_file") || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable secret: %v\n%s", err, out)
	}
}
