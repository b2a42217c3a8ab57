package vouchers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Enrolment challenges let a device enrol with a key it made itself: the
// portal mints one for a stay whose guest proved the voucher, puts it in
// the profile (Apple's SCEP payload), and the device sends it back as the
// challengePassword of its CSR (SCEP, RFC 8894). A challenge is a bearer
// secret for one enrolment: single use, valid for minutes, bound to the
// stay and to the platform and label the guest chose.

// Limits of a challenge's lifetime.
const (
	// DefaultChallengeLifetime is the lifetime of a challenge minted with
	// lifetime 0. A guest downloads the profile in the browser and then
	// installs it from Settings, which iOS allows for about 8 minutes.
	DefaultChallengeLifetime = 15 * time.Minute
	// MaxChallengeLifetime bounds how long a challenge (a bearer secret in
	// a downloaded file) stays usable.
	MaxChallengeLifetime = 30 * time.Minute
)

const (
	// challengeBytes random bytes make a challenge: 160 bits.
	challengeBytes = 20
	// challengeRetention is how long a row outlives its expiry, so that a
	// late device is told "expired" or "used" rather than "unknown".
	challengeRetention = 24 * time.Hour
)

// challengeEncoding writes challenges in RFC 4648 base32 without padding:
// A-Z and 2-7 are URL-safe and all in ASN.1 PrintableString, the string
// type SCEP clients use for a CSR's challengePassword.
var challengeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// challengeHash is what the database keeps of a challenge and finds it by:
// hex SHA-256. Unlike a voucher's verifier (about 37 bits, hashed with
// argon2id), a challenge is 160 uniformly random bits: no one can search
// that space however fast the hash, so a slow, salted hash would add cost
// to every enrolment and no protection. An unsalted hash also lets the
// database find the row by an index, and the index's timing gives away at
// most where the hash of a guess sorts, which says nothing about any
// stored challenge.
func challengeHash(challenge string) string {
	sum := sha256.Sum256([]byte(challenge))
	return hex.EncodeToString(sum[:])
}

// wellFormedChallenge reports whether s could be a challenge Keycard made.
func wellFormedChallenge(s string) bool {
	if len(s) != challengeEncoding.EncodedLen(challengeBytes) {
		return false
	}
	_, err := challengeEncoding.DecodeString(s)
	return err == nil
}

// MintEnrolChallenge makes a one-time enrolment challenge for a stay. The
// device that sends it to EnrolWithChallenge within lifetime (0: the
// default of 15 minutes; at most 30 minutes) enrols for the stay with the
// platform and label given here. The challenge is 160 random bits written
// as 32 characters of base32 (A-Z, 2-7); only its SHA-256 is stored, and
// the "challenge.mint" audit entry names it by row id, never by value.
//
// It refuses a stay that is over (ErrStayEnded) or already at its device
// cap (ErrDeviceCap), by the same rules as enrolment, which checks them
// again when the challenge is used. Rows of challenges that expired more
// than a day ago are removed.
func (s *Store) MintEnrolChallenge(ctx context.Context, by Actor, stayID int64, platform, label string, lifetime time.Duration) (challenge string, expires time.Time, err error) {
	if err := checkActor(by); err != nil {
		return "", time.Time{}, err
	}
	switch {
	case lifetime == 0:
		lifetime = DefaultChallengeLifetime
	case lifetime < 0 || lifetime > MaxChallengeLifetime:
		return "", time.Time{}, invalidf("an enrolment challenge lives for up to %s, not %s", MaxChallengeLifetime, lifetime)
	}
	if err := checkOptional("platform", platform, maxPlatformLen); err != nil {
		return "", time.Time{}, err
	}
	if err := checkOptional("label", label, maxLabelLen); err != nil {
		return "", time.Time{}, err
	}
	platform, label = strings.TrimSpace(platform), strings.TrimSpace(label)
	raw := make([]byte, challengeBytes)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return "", time.Time{}, fmt.Errorf("vouchers: challenge randomness: %w", err)
	}
	challenge = challengeEncoding.EncodeToString(raw)
	now := s.now()
	expires = fromDB(dbTime(now.Add(lifetime)))
	var id int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		st, err := s.stay(ctx, tx, stayID)
		if err != nil {
			return err
		}
		if err := s.mayEnrol(ctx, tx, st, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM enrol_challenges WHERE expires_at < ?`,
			dbTime(now.Add(-challengeRetention))); err != nil {
			return fmt.Errorf("vouchers: mint challenge: %w", err)
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO enrol_challenges (hash, stay_id, platform, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			challengeHash(challenge), stayID, platform, label, dbTime(now), dbTime(expires))
		if err != nil {
			return fmt.Errorf("vouchers: mint challenge: %w", err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("vouchers: mint challenge: %w", err)
		}
		return s.appendAudit(ctx, tx, by, now, "challenge.mint", stayRef(stayID),
			fmt.Sprintf("challenge=%d expires=%s platform=%q label=%q", id, expires.Format(time.RFC3339), platform, label))
	})
	if err != nil {
		return "", time.Time{}, err
	}
	s.log.Info("enrolment challenge minted", "stay", stayID, "challenge_id", id, "expires", expires, "by", by.Name, "from", by.Source)
	return challenge, expires, nil
}

// EnrolWithChallenge enrols the device whose CSR carries a challenge from
// MintEnrolChallenge. The CSR's signature and key are checked as for any
// enrolment (ErrInvalid; RSA 2048 and up, ECDSA P-256/P-384, Ed25519), then
// the challenge is found by its hash and marked used in the same
// transaction as the enrolment: the device, its certificate (NotAfter = the
// stay's check-out) and the "device.enrol" audit entry (via=challenge:<id>)
// commit together or not at all.
//
// It refuses a challenge it never made (ErrUnknownChallenge), one already
// used (ErrChallengeUsed) and one past its lifetime (ErrChallengeExpired),
// and, like every enrolment, a stay that is over (ErrStayEnded) or at its
// cap (ErrDeviceCap). A refusal for a bad CSR, the stay or the cap leaves
// the challenge unused.
func (s *Store) EnrolWithChallenge(ctx context.Context, by Actor, challenge string, csr *x509.CertificateRequest) (Device, *x509.Certificate, error) {
	if err := checkActor(by); err != nil {
		return Device{}, nil, err
	}
	if csr == nil {
		return Device{}, nil, invalidf("a CSR is required")
	}
	key, err := Enrolment{CSR: csr}.publicKey()
	if err != nil {
		return Device{}, nil, err
	}
	if !wellFormedChallenge(challenge) {
		s.log.Debug("enrolment challenge refused", "reason", "unknown", "from", by.Source)
		return Device{}, nil, ErrUnknownChallenge
	}
	sum := challengeHash(challenge)
	now := s.now()
	var (
		d      Device
		cert   *x509.Certificate
		id     int64
		stayID int64
		reason string
	)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var stored, platform, label string
		var expiresAt int64
		var used sql.NullInt64
		err := tx.QueryRowContext(ctx,
			`SELECT id, hash, stay_id, platform, label, expires_at, used_at FROM enrol_challenges WHERE hash = ?`, sum).
			Scan(&id, &stored, &stayID, &platform, &label, &expiresAt, &used)
		if errors.Is(err, sql.ErrNoRows) {
			reason = "unknown"
			return ErrUnknownChallenge
		}
		if err != nil {
			return fmt.Errorf("vouchers: enrol with challenge: %w", err)
		}
		// The index matched by equality; compare again in constant time
		// so that a database collation that folds case cannot let a
		// near miss through.
		if subtle.ConstantTimeCompare([]byte(stored), []byte(sum)) != 1 {
			reason = "unknown"
			return ErrUnknownChallenge
		}
		if used.Valid {
			reason = "used"
			return fmt.Errorf("%w: challenge %d was used at %s", ErrChallengeUsed, id, fromDB(used.Int64).Format(time.RFC3339))
		}
		if expires := fromDB(expiresAt); !now.Before(expires) {
			reason = "expired"
			return fmt.Errorf("%w: challenge %d expired at %s", ErrChallengeExpired, id, expires.Format(time.RFC3339))
		}
		// Claim the challenge before enrolling: on a database that lets
		// two transactions read the row at once, only one claims it.
		res, err := tx.ExecContext(ctx, `UPDATE enrol_challenges SET used_at = ? WHERE id = ? AND used_at IS NULL`, dbTime(now), id)
		if err != nil {
			return fmt.Errorf("vouchers: enrol with challenge: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			reason = "used"
			return fmt.Errorf("%w: challenge %d was used meanwhile", ErrChallengeUsed, id)
		}
		st, err := s.stay(ctx, tx, stayID)
		if err != nil {
			return err
		}
		d, cert, err = s.enrol(ctx, tx, by, st, key, Enrolment{CSR: csr, Platform: platform, Label: label}, now, fmt.Sprintf("challenge:%d", id))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE enrol_challenges SET device_id = ? WHERE id = ?`, d.ID, id); err != nil {
			return fmt.Errorf("vouchers: enrol with challenge: %w", err)
		}
		return nil
	})
	if err != nil {
		// The caller (the SCEP endpoint) logs the decision; this line
		// adds which challenge it was.
		switch reason {
		case "":
		case "unknown":
			s.log.Debug("enrolment challenge refused", "reason", reason, "from", by.Source)
		default:
			s.log.Debug("enrolment challenge refused", "reason", reason, "challenge_id", id, "stay", stayID, "from", by.Source)
		}
		return Device{}, nil, err
	}
	s.log.Info("device enrolled", "stay", stayID, "device", d.ID, "serial", d.Serial, "via", "challenge", "challenge_id", id, "by", by.Name, "from", by.Source)
	return d, cert, nil
}
