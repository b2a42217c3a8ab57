package staff

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestPasswordPolicy(t *testing.T) {
	cases := []struct {
		name, password string
		want           string // in the error; "" accepts
	}{
		{"alice", "short-one", "too short (9 characters): use at least 12"},
		{"alice", "ĉiuĵaŭdeĉ", "too short"}, // counted in characters, not bytes
		{"alice", "password1234", "most common"},
		{"alice", "Password1234!", "most common"},
		{"alice", "P@ssw0rd2026!", "most common"},
		{"alice", "!!Sunshine2026", "most common"},
		{"alice", "passwordpassword", "most common"},
		{"alice", "Reception2026!", "most common"},
		{"alice", "qwertyuiop123", "most common"},
		{"alice", "alice-in-wonderland", `contains the account name "alice"`},
		{"alice", "xxALICExx-2026-yy", `contains the account name "alice"`},
		{"alice", "qwertyuiopasdf", "keyboard or alphabet sequence"},
		{"alice", "123456789012", "keyboard or alphabet sequence"},
		{"alice", "987654321098", "keyboard or alphabet sequence"},
		{"alice", "abababababab", "repeats a short pattern"},
		{"alice", "zzzzzzzzzzzz", "repeats a short pattern"},
		{"alice", "correct horse battery staple", ""},
		{"alice", "k7qx2-m4tr9-pcw3h-8dfzn", ""},
		{"bo", "bo-knows-the-lobby-1", ""}, // names under 3 letters are not searched for
	}
	for _, tc := range cases {
		t.Run(tc.password, func(t *testing.T) {
			err := CheckPassword(tc.name, tc.password)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckPassword(%q) = %v, want it accepted", tc.password, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckPassword(%q) = %v, want an error saying %q", tc.password, err, tc.want)
			}
			if !errors.Is(err, ErrWeakPassword) || !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrWeakPassword and ErrInvalid", err)
			}
			if strings.Contains(err.Error(), tc.password) {
				t.Errorf("the error repeats the password: %v", err)
			}
		})
	}
}

// The embedded list is the few hundred most common passwords, read
// lowercased.
func TestCommonPasswordList(t *testing.T) {
	if n := len(commonPasswords); n < 300 {
		t.Errorf("%d common passwords embedded, want a few hundred", n)
	}
	for _, p := range []string{"123456", "password", "qwerty", "letmein", "iloveyou", "frontdesk"} {
		if !commonPasswords[p] {
			t.Errorf("%q is not on the list", p)
		}
	}
	for p := range commonPasswords {
		if p != strings.ToLower(p) || strings.TrimSpace(p) != p {
			t.Errorf("list entry %q is not lowercased and trimmed", p)
		}
	}
}

// Add and ResetPassword apply the policy and change nothing on a refusal.
func TestAddRefusesWeakPassword(t *testing.T) {
	f := newFixture(t)
	_, _, err := f.s.Add(f.ctx, admin, NewAccount{Name: "alice", Role: RoleFrontDesk, Password: "Password123!"})
	wantErr(t, err, ErrWeakPassword)
	if _, err := f.s.Account(f.ctx, "alice"); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("a refused Add left an account: %v", err)
	}
	f.add("alice", RoleFrontDesk)
	_, err = f.s.ResetPassword(f.ctx, admin, "alice", "alice2026alice2026")
	wantErr(t, err, ErrWeakPassword)
	if got := f.actions(); len(got) != 1 || got[0] != "staff.add" {
		t.Errorf("audit = %v, want only staff.add", got)
	}
}

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)

// The hash is argon2id in the PHC string format, its costs inside it, with
// a fresh salt per password.
func TestPasswordHashFormat(t *testing.T) {
	f := newFixture(t)
	const password = "correct horse battery staple"
	f.secret(password)
	for _, name := range []string{"alice", "bob"} {
		if _, _, err := f.s.Add(f.ctx, admin, NewAccount{Name: name, Role: RoleFrontDesk, Password: password}); err != nil {
			t.Fatal(err)
		}
	}
	hashes := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		var h string
		if err := f.db.QueryRow(`SELECT password_hash FROM staff WHERE name = ?`, name).Scan(&h); err != nil {
			t.Fatal(err)
		}
		m := phc.FindStringSubmatch(h)
		if m == nil {
			t.Fatalf("password_hash %q is not $argon2id$v=19$m=…,t=…,p=…$salt$hash", h)
		}
		if m[1] != "64" || m[2] != "1" || m[3] != "1" {
			t.Errorf("costs m=%s t=%s p=%s, want the Store's m=64 t=1 p=1", m[1], m[2], m[3])
		}
		salt, _ := base64.RawStdEncoding.DecodeString(m[4])
		key, _ := base64.RawStdEncoding.DecodeString(m[5])
		if subtle.ConstantTimeCompare(argon2.IDKey([]byte(password), salt, 1, 64, 1, 32), key) != 1 {
			t.Errorf("the stored key is not argon2id(password, salt)")
		}
		hashes[name] = m[4]
	}
	if hashes["alice"] == hashes["bob"] {
		t.Errorf("two accounts share the salt %s", hashes["alice"])
	}
	s, err := New(f.db, Options{Audit: f.audit})
	if err != nil || s.params != (PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1}) {
		t.Errorf("default costs = %+v (%v), want OWASP's m=19MiB t=2 p=1", s.params, err)
	}
}

// Raising the costs rehashes a password at its next login, with the same
// password; lowering them does not weaken a stored hash.
func TestRehashOnRaisedParams(t *testing.T) {
	f := newFixture(t)
	m := f.enrolled("alice", RoleFrontDesk)
	stored := func() string {
		var h string
		if err := f.db.QueryRow(`SELECT password_hash FROM staff WHERE name = 'alice'`).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := stored()
	raised := f.opts
	raised.Password = PasswordParams{Memory: 128, Time: 2, Threads: 1}
	f.s = f.newStore(raised)
	f.mustLogin(m, "10.0.0.5")
	after := stored()
	if after == before || !strings.HasPrefix(after, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("after a login with raised costs the hash is %q (was %q)", after, before)
	}
	e := f.lastAudit("staff.password.rehash")
	if !strings.Contains(e.Detail, "m=64,t=1,p=1 -> m=128,t=2,p=1") {
		t.Errorf("rehash audit detail = %q", e.Detail)
	}
	f.mustLogin(m, "10.0.0.5") // the same password still works

	f.s = f.newStore(f.opts) // back to the lower costs
	f.mustLogin(m, "10.0.0.5")
	if got := stored(); got != after {
		t.Errorf("lower costs rewrote the hash to %q", got)
	}
}

func TestParsePasswordHashRefusesJunk(t *testing.T) {
	good := passwordHash{params: testParams, salt: make([]byte, 16), key: make([]byte, 32)}.String()
	if _, err := parsePasswordHash(good); err != nil {
		t.Fatalf("parse %q: %v", good, err)
	}
	for _, bad := range []string{
		"", "argon2id$m=19456,t=1,p=1$abcd", // the vouchers form
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "m=64", "m=999999999", 1), // would take the machine's memory
		strings.Replace(good, "t=1", "t=0", 1),
		strings.Replace(good, "p=1", "p=0", 1),
		strings.Replace(good, "m=64,", "", 1),
		good + "$",
	} {
		if _, err := parsePasswordHash(bad); err == nil {
			t.Errorf("parsePasswordHash(%q) accepted it", bad)
		}
	}
}

func FuzzParsePasswordHash(f *testing.F) {
	f.Add(passwordHash{params: testParams, salt: make([]byte, 16), key: make([]byte, 32)}.String())
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePasswordHash(s)
		if err != nil {
			return
		}
		if h.params.validate() != nil || len(h.salt) < 8 || len(h.key) < 16 {
			t.Fatalf("accepted %q with %+v", s, h.params)
		}
		if again, err := parsePasswordHash(h.String()); err != nil || again.String() != h.String() {
			t.Fatalf("%q does not round-trip: %v", s, err)
		}
	})
}
