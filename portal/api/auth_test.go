package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"keycard/vouchers"
)

func TestAuth(t *testing.T) {
	f := newFixture(t)
	st := f.create(t, "RES-1")
	stay := fmt.Sprintf("/api/v1/stays/%d", st.ID)

	t.Run("token in the query", func(t *testing.T) {
		for _, q := range []string{
			"?token=" + f.tokens["pms"],
			"?access_token=" + f.tokens["pms"],
			"?api_key=whatever",
			"?x=" + f.tokens["reader"],
			"?external_id=" + f.tokens["pms"],
		} {
			for _, path := range []string{stay, "/api/v1/stays", "/api/v1/nowhere"} {
				before := len(f.auditRows(t))
				ex := f.do(t, req{method: "GET", path: path + q, token: "pms"})
				p := ex.problem(t, 400, "token-in-url")
				f.noSecrets(t, "the answer", string(ex.body)+p.Detail)
				if after := len(f.auditRows(t)); after != before {
					t.Fatalf("a refused call was served and audited")
				}
			}
		}
		logs := f.logs.String()
		if !strings.Contains(logs, "refused a token in the URL") {
			t.Fatalf("the refusal is not logged:\n%s", logs)
		}
		f.noSecrets(t, "the log", logs)
	})
	t.Run("no token", func(t *testing.T) {
		for _, auth := range []string{"", "raw:Basic dXNlcjpwdw==", "raw:Bearer", "raw:Bearer "} {
			ex := f.do(t, req{method: "GET", path: stay, token: auth})
			ex.problem(t, 401, "unauthorized")
			if !strings.HasPrefix(ex.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate = %q", ex.header.Get("WWW-Authenticate"))
			}
		}
	})
	t.Run("invalid or revoked token", func(t *testing.T) {
		for _, auth := range []string{"raw:Bearer kc_nottoken", "gone", "raw:bearer " + f.tokens["gone"]} {
			ex := f.do(t, req{method: "GET", path: stay, token: auth})
			ex.problem(t, 401, "unauthorized")
			if !strings.Contains(ex.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate = %q", ex.header.Get("WWW-Authenticate"))
			}
		}
	})
	t.Run("scopes", func(t *testing.T) {
		cases := []struct {
			method, path, body string
			allowed            []string
		}{
			{"GET", stay, "", []string{"pms", "reader"}},
			{"GET", "/api/v1/sessions", "", []string{"pms", "reader"}},
			{"POST", "/api/v1/stays", stayBody("RES-scope"), []string{"desk"}},
			{"POST", stay + "/extend", `{"check_out":"2026-06-10T10:00:00Z"}`, []string{"desk"}},
			{"POST", "/api/v1/devices/1/revoke", `{"reason":"x"}`, []string{"devices"}},
			{"POST", "/api/v1/sessions/1/kick", `{}`, []string{"sessions"}},
		}
		for _, c := range cases {
			for _, tok := range []string{"reader", "desk", "devices", "sessions"} {
				ex := f.do(t, req{method: c.method, path: c.path, token: tok, body: c.body})
				if slices.Contains(c.allowed, tok) {
					if ex.status == http.StatusForbidden {
						t.Fatalf("%s %s with %s: 403", c.method, c.path, tok)
					}
					continue
				}
				p := ex.problem(t, 403, "forbidden")
				if !strings.Contains(ex.header.Get("WWW-Authenticate"), "insufficient_scope") || !strings.Contains(p.Detail, tok) {
					t.Fatalf("403 = %+v, WWW-Authenticate %q", p, ex.header.Get("WWW-Authenticate"))
				}
			}
		}
	})
	t.Run("audit", func(t *testing.T) {
		rows := f.auditRows(t)
		var reads, refusals int
		for _, e := range rows {
			f.noSecrets(t, "the audit log", e.Actor+e.Source+e.Subject+e.Detail)
			if !strings.HasPrefix(e.Actor, "api:") {
				continue
			}
			if e.Source != "192.0.2.10" {
				t.Fatalf("audit source = %q, want the client address", e.Source)
			}
			switch {
			case e.Action == "api.call" && strings.HasSuffix(e.Detail, "-> 200"):
				reads++
			case e.Action == "api.call" && strings.HasSuffix(e.Detail, "-> 403"):
				refusals++
			}
		}
		if reads == 0 || refusals == 0 {
			t.Fatalf("audit has %d reads and %d refusals by API tokens:\n%+v", reads, refusals, rows)
		}
		if rows[0].Action == "" {
			t.Fatal("empty audit")
		}
		create := rows[slices.IndexFunc(rows, func(e vouchers.AuditEntry) bool { return e.Action == "stay.create" })]
		if create.Actor != "api:pms" || !strings.Contains(create.Detail, `external_id="RES-1"`) || strings.Contains(create.Detail, st.VoucherCode) {
			t.Fatalf("stay.create audit = %+v", create)
		}
		if err := f.hotel.VerifyAudit(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPublicDescription(t *testing.T) {
	f := newFixture(t)
	ex := f.do(t, req{method: "GET", path: "/api/v1/openapi.yaml"})
	if ex.status != 200 || !strings.HasPrefix(string(ex.body), "openapi: 3.1") {
		t.Fatalf("openapi.yaml: %d %.40s", ex.status, ex.body)
	}
}
