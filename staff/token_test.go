package staff

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

var apiToken = regexp.MustCompile(`^kc_[A-Za-z0-9_-]{43}$`)

func TestTokenScopes(t *testing.T) {
	f := newFixture(t)
	tok, text, err := f.s.AddToken(f.ctx, admin, "opera-pms", []Scope{ScopeStays, ScopeRead, ScopeStays})
	if err != nil {
		t.Fatal(err)
	}
	f.secret(text)
	if !apiToken.MatchString(text) {
		t.Fatalf("token %q: want kc_ and 43 base64url characters", text)
	}
	if len(tok.Scopes) != 2 || tok.Scopes[0] != ScopeRead || tok.Scopes[1] != ScopeStays || tok.CreatedBy != "admin:root" {
		t.Errorf("token %+v", tok)
	}
	got, err := f.s.TokenByBearer(f.ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scope Scope
		want  bool
	}{{ScopeRead, true}, {ScopeStays, true}, {ScopeDevices, false}, {ScopeSessions, false}, {Scope("admin"), false}} {
		if got.Has(tc.scope) != tc.want {
			t.Errorf("Has(%s) = %v", tc.scope, !tc.want)
		}
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t0) {
		t.Errorf("last used = %v, want %v", got.LastUsedAt, t0)
	}
	f.clock.Advance(2 * time.Minute)
	f.s.TokenByBearer(f.ctx, text)
	list, _ := f.s.Tokens(f.ctx, false)
	if len(list) != 1 || !list[0].LastUsedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("Tokens = %+v", list)
	}
	var stored string
	f.db.QueryRow(`SELECT token_hash FROM staff_tokens`).Scan(&stored)
	if strings.Contains(stored, text[3:]) || len(stored) != 64 {
		t.Errorf("stored %q, want the SHA-256 only", stored)
	}

	for _, bad := range []string{"", "kc_", text[:len(text)-1], "Bearer " + text, strings.Replace(text, "kc_", "kcs_", 1), text + "x",
		text[:10] + "!" + text[11:]} {
		if _, err := f.s.TokenByBearer(f.ctx, bad); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("TokenByBearer(%q) = %v", bad, err)
		}
	}
	_, _, err = f.s.AddToken(f.ctx, admin, "opera-pms", []Scope{ScopeRead})
	wantErr(t, err, ErrDuplicateToken)
	for _, scopes := range [][]Scope{nil, {"write"}} {
		if _, _, err := f.s.AddToken(f.ctx, admin, "other", scopes); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddToken with scopes %v: %v", scopes, err)
		}
	}
	if _, _, err := f.s.AddToken(f.ctx, admin, "Opera PMS", []Scope{ScopeRead}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a name with a space: %v", err)
	}

	if _, err := f.s.RevokeToken(f.ctx, admin, "opera-pms"); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.TokenByBearer(f.ctx, text)
	wantErr(t, err, ErrTokenInvalid)
	if _, err := f.s.RevokeToken(f.ctx, admin, "opera-pms"); !errors.Is(err, ErrUnknownToken) {
		t.Errorf("revoking twice: %v", err)
	}
	// The name is free again; the revoked one stays listed with --all.
	_, text2, err := f.s.AddToken(f.ctx, admin, "opera-pms", []Scope{ScopeDevices})
	if err != nil {
		t.Fatal(err)
	}
	f.secret(text2)
	if text2 == text {
		t.Fatal("the same token twice")
	}
	live, _ := f.s.Tokens(f.ctx, false)
	all, _ := f.s.Tokens(f.ctx, true)
	if len(live) != 1 || len(all) != 2 {
		t.Errorf("Tokens: %d live, %d in all", len(live), len(all))
	}
	for _, a := range []string{"token.add", "token.revoke"} {
		e := f.lastAudit(a)
		if e.Subject != "token:opera-pms" || e.Actor != "admin:root" {
			t.Errorf("%s audit = %+v", a, e)
		}
	}
	if _, err := ParseScope("sessions"); err != nil {
		t.Error(err)
	}
	if _, err := ParseScope("everything"); err == nil || !strings.Contains(err.Error(), "read, stays, devices, sessions") {
		t.Errorf("ParseScope(everything) = %v", err)
	}
}
