package vouchers

import (
	"errors"
	"fmt"
)

// Errors callers branch on. They are wrapped with detail (an id, a count);
// test with errors.Is.
var (
	// ErrUnknownStay: no stay has the given id.
	ErrUnknownStay = errors.New("vouchers: unknown stay")
	// ErrUnknownDevice: no device has the given id.
	ErrUnknownDevice = errors.New("vouchers: unknown device")
	// ErrVoucherInvalid: the code is malformed, unknown or wrong. The
	// message is the same in every case so a guesser learns nothing.
	ErrVoucherInvalid = errors.New("vouchers: voucher code is not valid")
	// ErrVoucherLocked: too many wrong codes were tried; staff must reissue
	// the voucher.
	ErrVoucherLocked = errors.New("vouchers: voucher is locked after too many wrong codes; ask the front desk for a new one")
	// ErrDeviceCap: the stay already has its maximum number of devices.
	ErrDeviceCap = errors.New("vouchers: the stay has reached its device limit")
	// ErrStayEnded: the stay's check-out has passed or staff ended it.
	ErrStayEnded = errors.New("vouchers: the stay has ended")
	// ErrUnknownChallenge: no enrolment challenge has this value (mistyped,
	// made by another Keycard, or purged a day after it expired).
	ErrUnknownChallenge = errors.New("vouchers: unknown enrolment challenge")
	// ErrChallengeUsed: the enrolment challenge already enrolled a device;
	// each one enrols one device. The guest downloads a new profile.
	ErrChallengeUsed = errors.New("vouchers: the enrolment challenge was already used; download a new profile")
	// ErrChallengeExpired: the enrolment challenge is past its lifetime.
	// The guest downloads a new profile.
	ErrChallengeExpired = errors.New("vouchers: the enrolment challenge has expired; download a new profile")
	// ErrInvalid matches every error caused by bad input (a check-out
	// before check-in, an unknown policy, a weak key ...): show the message
	// to the user and let them correct it.
	ErrInvalid = errors.New("vouchers: invalid input")
)

// invalidError is a validation failure; errors.Is(err, ErrInvalid) holds.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: "vouchers: " + fmt.Sprintf(format, args...)}
}
