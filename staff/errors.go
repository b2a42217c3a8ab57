package staff

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on. They are wrapped with detail; test with
// errors.Is. The messages are fit to show the person at the desk.
var (
	// ErrLoginFailed: the name is unknown or the password is wrong. The
	// message is the same in both cases so a guesser learns nothing.
	ErrLoginFailed = errors.New("staff: wrong name or password")
	// ErrWrongPassword: the current password, asked again to change it, is
	// wrong.
	ErrWrongPassword = errors.New("staff: the current password is wrong")
	// ErrCodeInvalid: the TOTP code or recovery code is wrong.
	ErrCodeInvalid = errors.New("staff: wrong code")
	// ErrCodeReplayed: the TOTP code was right but its time step was
	// already used (a code is good once).
	ErrCodeReplayed = errors.New("staff: this code was already used; wait for the next one")
	// ErrLocked matches a *LockedError: too many wrong passwords or codes.
	ErrLocked = errors.New("staff: account is locked")
	// ErrTryLater matches a *RetryError: the growing delay after a wrong
	// attempt, or a client address that guessed too often.
	ErrTryLater = errors.New("staff: too many attempts; try again later")
	// ErrDisabled: the account was disabled by an admin. Login says so only
	// after the right password.
	ErrDisabled = errors.New("staff: this account is disabled; ask an admin")
	// ErrSessionInvalid: no session has this token, or it ended (logout,
	// idle, lifetime, password change, disabled account, 2FA reset).
	ErrSessionInvalid = errors.New("staff: not logged in, or the session has ended; log in again")
	// ErrEnrolmentRequired: the account has no TOTP yet; enrol it
	// (BeginEnrolment, ConfirmEnrolment) to finish logging in.
	ErrEnrolmentRequired = errors.New("staff: set up the authenticator app first")
	// ErrAlreadyEnrolled: the account already has TOTP; changing it needs
	// the current code (BeginTOTPChange).
	ErrAlreadyEnrolled = errors.New("staff: the authenticator app is already set up")
	// ErrUnknownAccount: no account has this name or id.
	ErrUnknownAccount = errors.New("staff: unknown account")
	// ErrDuplicateAccount: an account with this name exists.
	ErrDuplicateAccount = errors.New("staff: an account with this name exists")
	// ErrUnknownToken: no live API token has this name.
	ErrUnknownToken = errors.New("staff: unknown API token")
	// ErrDuplicateToken: a live API token has this name.
	ErrDuplicateToken = errors.New("staff: a live API token with this name exists")
	// ErrTokenInvalid: the bearer token is malformed, unknown or revoked.
	ErrTokenInvalid = errors.New("staff: API token is not valid")
	// ErrWeakPassword matches every password refused by the policy (too
	// short, too common, contains the name); it also matches ErrInvalid.
	ErrWeakPassword = errors.New("staff: password is too weak")
	// ErrInvalid matches every error caused by bad input: show the message
	// and let the user correct it.
	ErrInvalid = errors.New("staff: invalid input")
	// ErrNoSecretBox: TOTP needs the secret box (the CA passphrase) and the
	// Store was made without one.
	ErrNoSecretBox = errors.New("staff: TOTP secrets need the secret box (the CA passphrase); this Store has none")
)

// invalidError is a validation failure; errors.Is(err, ErrInvalid) holds,
// and errors.Is(err, ErrWeakPassword) for a refused password.
type invalidError struct {
	msg  string
	weak bool
}

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Is(target error) bool {
	return target == ErrInvalid || (e.weak && target == ErrWeakPassword)
}

func invalidf(format string, args ...any) error {
	return &invalidError{msg: "staff: " + fmt.Sprintf(format, args...)}
}

func weakf(format string, args ...any) error {
	return &invalidError{msg: "staff: " + fmt.Sprintf(format, args...), weak: true}
}

// LockedError says an account is locked, why, until when and what to do.
// errors.Is(err, ErrLocked) holds.
type LockedError struct {
	Name   string
	Reason string    // "wrong passwords" or "wrong codes"
	Until  time.Time // the lock lifts by itself then
	now    time.Time
	loc    *time.Location
}

func (e *LockedError) Error() string {
	until := e.Until.In(e.loc)
	at := until.Format("15:04")
	if y, m, d := e.now.In(e.loc).Date(); y != until.Year() || m != until.Month() || d != until.Day() {
		at = until.Format("2006-01-02 15:04")
	}
	return fmt.Sprintf("staff: account %s is locked after too many %s: ask an admin to run `keycard staff reset-password %s`, or wait until %s",
		e.Name, e.Reason, e.Name, at)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// RetryError is the growing delay after a wrong attempt, or a block of the
// client address; nothing was checked. errors.Is(err, ErrTryLater) holds.
type RetryError struct {
	Until   time.Time
	After   time.Duration // Until less now, rounded up to a second
	Address bool          // the client address is blocked, not the account slowed
}

func (e *RetryError) Error() string {
	if e.Address {
		return fmt.Sprintf("staff: too many failed logins from this address; try again in %s", e.After)
	}
	return fmt.Sprintf("staff: too many wrong attempts; try again in %s", e.After)
}

func (e *RetryError) Is(target error) bool { return target == ErrTryLater }

func retryAt(until, now time.Time, address bool) *RetryError {
	after := until.Sub(now)
	if r := after % time.Second; r != 0 {
		after += time.Second - r
	}
	return &RetryError{Until: until, After: after, Address: address}
}
