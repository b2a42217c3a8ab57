package loadgen

import (
	"crypto/hmac"
	"crypto/md5"
	"errors"
)

// RADIUS attribute types used directly on the wire.
const (
	attrState                = 24
	attrVendorSpecific       = 26
	attrMessageAuthenticator = 80

	radiusHeaderLen = 20
	msgAuthLen      = 16
)

// Errors of a Message-Authenticator check; each maps to one failure Cause.
var (
	errMsgAuthMissing   = errors.New("loadgen: Message-Authenticator missing")
	errMsgAuthNotFirst  = errors.New("loadgen: Message-Authenticator is not the first attribute")
	errMsgAuthInvalid   = errors.New("loadgen: Message-Authenticator invalid")
	errMsgAuthMalformed = errors.New("loadgen: malformed RADIUS packet")
)

// findMessageAuthenticator walks the attributes of the wire packet b and
// returns the offset of the first Message-Authenticator's value and whether
// it is the first attribute. off is -1 when there is none.
func findMessageAuthenticator(b []byte) (off int, first bool, err error) {
	if len(b) < radiusHeaderLen {
		return -1, false, errMsgAuthMalformed
	}
	n := int(b[2])<<8 | int(b[3])
	if n < radiusHeaderLen || n > len(b) {
		return -1, false, errMsgAuthMalformed
	}
	for i := radiusHeaderLen; i < n; {
		if i+2 > n {
			return -1, false, errMsgAuthMalformed
		}
		l := int(b[i+1])
		if l < 2 || i+l > n {
			return -1, false, errMsgAuthMalformed
		}
		if b[i] == attrMessageAuthenticator {
			if l != 2+msgAuthLen {
				return -1, false, errMsgAuthMalformed
			}
			return i + 2, i == radiusHeaderLen, nil
		}
		i += l
	}
	return -1, false, nil
}

// messageAuthenticator computes RFC 3579 section 3.2's HMAC-MD5 over the wire
// packet b, with the Message-Authenticator value at off taken as zeros and
// the Authenticator field taken as auth (the Request Authenticator for
// Access-Request and for every response to it).
func messageAuthenticator(b []byte, off int, auth [16]byte, secret []byte) [16]byte {
	n := int(b[2])<<8 | int(b[3])
	var zero [msgAuthLen]byte
	mac := hmac.New(md5.New, secret)
	mac.Write(b[:4])
	mac.Write(auth[:])
	mac.Write(b[radiusHeaderLen:off])
	mac.Write(zero[:])
	mac.Write(b[off+msgAuthLen : n])
	var sum [16]byte
	mac.Sum(sum[:0])
	return sum
}

// signRequest fills in the Message-Authenticator of an encoded Access-Request
// whose attribute list already holds a zeroed one.
func signRequest(b []byte, secret []byte) error {
	off, _, err := findMessageAuthenticator(b)
	if err != nil {
		return err
	}
	if off < 0 {
		return errMsgAuthMissing
	}
	var auth [16]byte
	copy(auth[:], b[4:20])
	sum := messageAuthenticator(b, off, auth, secret)
	copy(b[off:], sum[:])
	return nil
}

// checkResponseMessageAuthenticator checks that the response b to a request
// with authenticator reqAuth has a Message-Authenticator, first, and valid.
func checkResponseMessageAuthenticator(b []byte, reqAuth [16]byte, secret []byte) error {
	off, first, err := findMessageAuthenticator(b)
	switch {
	case err != nil:
		return err
	case off < 0:
		return errMsgAuthMissing
	}
	want := messageAuthenticator(b, off, reqAuth, secret)
	if !hmac.Equal(want[:], b[off:off+msgAuthLen]) {
		return errMsgAuthInvalid
	}
	if !first {
		return errMsgAuthNotFirst
	}
	return nil
}
