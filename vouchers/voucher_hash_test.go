package vouchers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/crypto/argon2"

	"keycard/internal/store"
)

// Someone with a copy of the database (a backup) must not be able to
// check guesses of a verifier at SHA-256 speed.
func TestVoucherVerifierIsArgon2id(t *testing.T) {
	if s, err := New(newFixture(t).db, Options{}); err != nil || s.kdf != (kdfParams{time: 1, memoryKiB: 19 * 1024, threads: 1}) {
		t.Fatalf("default argon2id costs = %+v, %v; want OWASP's t=1 m=19MiB p=1", s.kdf, err)
	}
	f := newFixture(t)
	f.s.kdf = defaultKDF
	st, code := f.stay(t, NewStay{})
	_, other := f.stay(t, NewStay{Room: "102"})
	compact, _ := NormaliseCode(code)
	selector, verifier := compact[:groupLen], compact[groupLen:]

	var saltHex, stored string
	if err := f.db.QueryRow(`SELECT verifier_salt, verifier_hash FROM vouchers WHERE stay_id = ?`, st.ID).
		Scan(&saltHex, &stored); err != nil {
		t.Fatal(err)
	}
	for _, weak := range []string{
		"keycard voucher v1\x00" + selector + "\x00" + verifier, // the old form
		verifier, compact, code,
	} {
		sum := sha256.Sum256([]byte(weak))
		if strings.Contains(stored, hex.EncodeToString(sum[:])) {
			t.Errorf("verifier_hash %q holds the SHA-256 of %q", stored, weak)
		}
	}
	salt, err := hex.DecodeString(saltHex)
	if err != nil || len(salt) != 16 {
		t.Fatalf("verifier_salt = %q, want 16 random bytes in hex", saltHex)
	}
	want := "argon2id$m=19456,t=1,p=1$" + hex.EncodeToString(argon2.IDKey([]byte(verifier), append([]byte(selector), salt...), 1, 19*1024, 1, 32))
	if stored != want {
		t.Errorf("verifier_hash = %q, want %q", stored, want)
	}
	var otherSalt string
	f.db.QueryRow(`SELECT verifier_salt FROM vouchers WHERE selector = ?`, other[:groupLen]).Scan(&otherSalt)
	if otherSalt == saltHex {
		t.Errorf("two vouchers share the salt %s", saltHex)
	}
	if d, _ := f.redeem(t, code); d.StayID != st.ID {
		t.Errorf("device went to stay %d", d.StayID)
	}
}

// An unknown selector costs the same argon2id hash as a known selector
// with a wrong verifier, so response times do not enumerate live
// selectors. Each path is timed at its fastest of three runs; without the
// dummy hash the unknown selector is over a thousand times faster.
func TestUnknownSelectorTakesAsLongAsAWrongVerifier(t *testing.T) {
	f := newFixture(t)
	f.s.kdf = defaultKDF
	_, code := f.stay(t, NewStay{})
	unknown := []byte(code)
	unknown[0] = CodeAlphabet[(strings.IndexByte(CodeAlphabet, unknown[0])+1)%len(CodeAlphabet)]
	fastest := func(code string) time.Duration {
		best := time.Hour
		for range 3 {
			start := time.Now()
			_, _, err := f.s.Redeem(context.Background(), f.guest, code, Enrolment{PublicKey: newKey(t)})
			best = min(best, time.Since(start))
			wantErr(t, err, ErrVoucherInvalid)
		}
		return best
	}
	u, w := fastest(string(unknown)), fastest(wrongCode(code, 0))
	if u < w/2 {
		t.Errorf("unknown selector answered in %v, a wrong verifier in %v: timing tells them apart", u, w)
	}
}

// 0002 locks vouchers issued with the SHA-256 verifier rather than keep the
// weak hash: the guest is told to ask the front desk, whose reissued code
// works, and enrolled devices are unaffected.
func TestMigrationLocksSHA256Vouchers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	db, err := store.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	first, err := fs.ReadFile(schema.Files, "0001_hotel.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, db, schema.Owner, fstest.MapFS{"0001_hotel.sql": {Data: first}}); err != nil {
		t.Fatal(err)
	}
	const selector, verifier = "K7QX", "M4TR9PCW"
	sum := sha256.Sum256([]byte("keycard voucher v1\x00" + selector + "\x00" + verifier))
	if _, err := db.Exec(`INSERT INTO stays (id, room, guest_name, check_in, check_out, max_devices, policy, created_at)
		VALUES (1, '101', 'Ada', ?, ?, 3, 'standard', ?);
		INSERT INTO vouchers (stay_id, selector, verifier_hash, issued_at) VALUES (1, ?, ?, ?)`,
		dbTime(t0), dbTime(t0.Add(48*time.Hour)), dbTime(t0), selector, hex.EncodeToString(sum[:]), dbTime(t0)); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := db.QueryRow(`SELECT verifier_hash FROM vouchers WHERE stay_id = 1`).Scan(&stored); err != nil || stored != "" {
		t.Errorf("old verifier_hash after 0002 = %q, %v; want it erased", stored, err)
	}
	roots, inters := f.ca.pools()
	s, err := New(db, Options{Policies: testPolicies, Issuer: f.issuer, Roots: roots, Intermediates: inters,
		Now: f.clock.Now, MaxFailedTries: 1000})
	if err != nil {
		t.Fatal(err)
	}
	s.kdf = testKDF
	_, _, err = s.Redeem(ctx, f.guest, selector+verifier, Enrolment{PublicKey: newKey(t)})
	wantErr(t, err, ErrVoucherLocked)
	code, err := s.ReissueVoucher(ctx, f.staff, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d, _, err := s.Redeem(ctx, f.guest, code, Enrolment{PublicKey: newKey(t)}); err != nil || d.StayID != 1 {
		t.Errorf("Redeem(reissued code) = %+v, %v", d, err)
	}
}
