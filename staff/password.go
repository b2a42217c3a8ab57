package staff

import (
	"bufio"
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// MinPasswordLength is the shortest password the policy accepts, in
// characters. Length does more than rules about digits and symbols, which
// the policy does not have (NIST SP 800-63B).
const MinPasswordLength = 12

// maxPasswordLength bounds what is hashed, in bytes.
const maxPasswordLength = 1024

// PasswordParams are the argon2id costs of a password hash. They are
// written into every hash (PHC string format), so they can be raised later:
// a login whose stored hash has lower costs than the Store's is hashed again
// with the new ones.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
}

// DefaultPasswordParams is OWASP's recommendation for argon2id: 19 MiB, two
// passes, one lane (some 40 ms on one core).
var DefaultPasswordParams = PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	passwordSaltLen = 16
	passwordKeyLen  = 32
)

func (p PasswordParams) validate() error {
	switch {
	case p.Time < 1 || p.Time > 64:
		return fmt.Errorf("staff: argon2id time %d is out of range; use 1..64", p.Time)
	case p.Threads < 1:
		return errors.New("staff: argon2id threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > 4<<20:
		return fmt.Errorf("staff: argon2id memory %d KiB is out of range; use %d..%d", p.Memory, 8*uint32(p.Threads), 4<<20)
	}
	return nil
}

func (p PasswordParams) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

// below reports whether a hash made with p is weaker than one made with
// cur: less memory or fewer passes.
func (p PasswordParams) below(cur PasswordParams) bool {
	return p.Memory < cur.Memory || p.Time < cur.Time
}

// passwordHash is a parsed PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, salt and key in unpadded
// standard base64.
type passwordHash struct {
	params PasswordParams
	salt   []byte
	key    []byte
}

func (h passwordHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$%s$%s$%s", argon2.Version, h.params,
		base64.RawStdEncoding.EncodeToString(h.salt), base64.RawStdEncoding.EncodeToString(h.key))
}

var errBadHash = errors.New("staff: stored password hash is not an argon2id PHC string")

func parsePasswordHash(s string) (passwordHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return passwordHash{}, errBadHash
	}
	var h passwordHash
	var threads uint32
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return passwordHash{}, errBadHash
		}
		switch k {
		case "m":
			h.params.Memory = uint32(n)
		case "t":
			h.params.Time = uint32(n)
		case "p":
			threads = uint32(n)
		default:
			return passwordHash{}, errBadHash
		}
	}
	if threads < 1 || threads > 255 {
		return passwordHash{}, errBadHash
	}
	h.params.Threads = uint8(threads)
	if err := h.params.validate(); err != nil {
		return passwordHash{}, fmt.Errorf("%w: %v", errBadHash, err)
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return passwordHash{}, errBadHash
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return passwordHash{}, errBadHash
	}
	return h, nil
}

// hashPassword makes a new PHC string for password with a fresh salt.
func (s *Store) hashPassword(ctx context.Context, password string) (string, error) {
	salt := make([]byte, passwordSaltLen)
	if _, err := io.ReadFull(s.rand, salt); err != nil {
		return "", fmt.Errorf("staff: password salt: %w", err)
	}
	key, err := s.argon2(ctx, password, salt, s.params, passwordKeyLen)
	if err != nil {
		return "", err
	}
	return passwordHash{params: s.params, salt: salt, key: key}.String(), nil
}

// verifyPassword checks password against a PHC string in constant time and
// reports whether the hash should be made again with the current costs.
func (s *Store) verifyPassword(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	h, err := parsePasswordHash(encoded)
	if err != nil {
		return false, false, err
	}
	key, err := s.argon2(ctx, password, h.salt, h.params, uint32(len(h.key)))
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(key, h.key) == 1
	rehash = h.params.below(s.params) || len(h.salt) < passwordSaltLen || len(h.key) < passwordKeyLen
	return ok, rehash, nil
}

// argon2 runs one hash, at most hashSlots at a time: each costs Memory KiB,
// and a flood of logins must not take the machine's memory.
func (s *Store) argon2(ctx context.Context, password string, salt []byte, p PasswordParams, keyLen uint32) ([]byte, error) {
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.hashSlots }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen), nil
}

// dummyHash is checked when the name is unknown, so that answer takes as
// long as a wrong password.
func (s *Store) dummyHash() string {
	s.dummyOnce.Do(func() {
		s.dummy = passwordHash{params: s.params, salt: make([]byte, passwordSaltLen), key: make([]byte, passwordKeyLen)}.String()
	})
	return s.dummy
}

//go:embed common_passwords.txt
var commonPasswordsText string

// commonPasswords is the embedded list, lowercased.
var commonPasswords = func() map[string]bool {
	m := make(map[string]bool, 512)
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	for sc.Scan() {
		w := strings.ToLower(strings.TrimSpace(sc.Text()))
		if w != "" && !strings.HasPrefix(w, "#") {
			m[w] = true
		}
	}
	return m
}()

// sequences are runs on the keyboard or in the alphabet; a password made
// of one is refused, forwards or backwards.
var sequences = []string{
	"01234567890123456789",
	"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
	"qwertyuiopasdfghjklzxcvbnm",
	"qwertzuiopasdfghjklyxcvbnm",
	"azertyuiopqsdfghjklmwxcvbn",
	"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
	"1q2w3e4r5t6y7u8i9o0p",
	"zaq1xsw2cde3vfr4bgt5nhy6mju7",
}

// CheckPassword applies the password policy for the account called name:
// at least MinPasswordLength characters, not one of the most common
// passwords (nor one with digits or symbols around it, nor one spelled with
// 0 for o and @ for a), not a keyboard or alphabet sequence, not a short
// pattern repeated, and not containing the account name. The error says
// which rule and matches ErrWeakPassword.
func CheckPassword(name, password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return invalidf("password is not valid UTF-8 text")
	case n < MinPasswordLength:
		return weakf("password is too short (%d characters): use at least %d; a few unrelated words make a good one", n, MinPasswordLength)
	case len(password) > maxPasswordLength:
		return invalidf("password is longer than %d bytes", maxPasswordLength)
	}
	lower := strings.ToLower(password)
	if name = strings.ToLower(name); len(name) >= 3 && strings.Contains(lower, name) {
		return weakf("password contains the account name %q: choose another", name)
	}
	if isCommon(lower) {
		return weakf("password is one of the most common passwords (or one with digits or symbols around it): choose another")
	}
	for _, seq := range sequences {
		if strings.Contains(seq, lower) || strings.Contains(reverse(seq), lower) {
			return weakf("password is a keyboard or alphabet sequence: choose another")
		}
	}
	if unit := repeatedUnit(lower); unit != "" && utf8.RuneCountInString(unit) <= 4 {
		return weakf("password repeats a short pattern: choose another")
	}
	return nil
}

// isCommon reports whether lower (a lowercased password) is a common
// password: whole, or its letters once the digits and symbols before and
// after them are taken off, read plainly or with 0→o, 1→i or l, 3→e,
// 4 or @→a, 5 or $→s, 7→t; or one common password written twice or more.
func isCommon(lower string) bool {
	if commonPasswords[lower] {
		return true
	}
	core := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	for _, c := range []string{core, unleet(core, "i"), unleet(core, "l")} {
		if c == "" {
			continue
		}
		if commonPasswords[c] {
			return true
		}
		if unit := repeatedUnit(c); unit != "" && commonPasswords[unit] {
			return true
		}
	}
	return false
}

func unleet(s, one string) string {
	return strings.NewReplacer("0", "o", "1", one, "3", "e", "4", "a", "@", "a", "5", "s", "$", "s", "7", "t").Replace(s)
}

// repeatedUnit returns u when s is u written twice or more, else "".
func repeatedUnit(s string) string {
	for size := 1; size <= len(s)/2; size++ {
		if len(s)%size == 0 && strings.Repeat(s[:size], len(s)/size) == s {
			return s[:size]
		}
	}
	return ""
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// The alphabet of generated passwords and recovery codes: Crockford's
// base32 in lower case, without i, l, o, u (nothing to misread).
const codeAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// randomCode draws groups of size characters from codeAlphabet (5 bits
// each), joined by '-'.
func randomCode(r io.Reader, groups, size int) (string, error) {
	raw := make([]byte, groups*size)
	if _, err := io.ReadFull(r, raw); err != nil {
		return "", fmt.Errorf("staff: randomness: %w", err)
	}
	var b strings.Builder
	for i, c := range raw {
		if i > 0 && i%size == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(codeAlphabet[c&31]) // 256 is a multiple of 32: uniform
	}
	return b.String(), nil
}

// GeneratedPasswordGroups × 5 characters × 5 bits: a generated password
// holds 100 random bits, like "k7qx2-m4tr9-pcw3h-8dfzn".
const GeneratedPasswordGroups = 4

func (s *Store) generatePassword() (string, error) {
	return randomCode(s.rand, GeneratedPasswordGroups, 5)
}
