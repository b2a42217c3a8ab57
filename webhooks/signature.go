package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The request headers. Every request also has Content-Type
// application/json.
const (
	SignatureHeader = "Keycard-Signature"  // t=<unix>,v1=<hex>
	EventIDHeader   = "Keycard-Event-Id"   // the event's stable id, as in the body
	EventTypeHeader = "Keycard-Event-Type" // the event's type, as in the body
	AttemptHeader   = "Keycard-Attempt"    // 1 for the first attempt, 2 for the first retry ...
)

// DefaultTolerance is how far from the receiver's clock a signature's
// timestamp may be for Verify, when it is given no tolerance.
const DefaultTolerance = 5 * time.Minute

var (
	// ErrBadSignature: the header is missing or malformed, or no v1
	// signature in it matches the body and the secret. Refuse the request.
	ErrBadSignature = errors.New("webhooks: signature does not match")
	// ErrStaleSignature: the signature matches but its timestamp is too far
	// from now, as a replayed request's would be. Refuse the request.
	ErrStaleSignature = errors.New("webhooks: signature timestamp outside the tolerance")
)

// Sign returns the Keycard-Signature header value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>".
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a request as a receiver must: header is its
// Keycard-Signature, body its raw body (before any JSON decoding), now the
// receiver's clock. It returns nil when a v1 signature matches (compared
// in constant time) and the timestamp is within tolerance of now, either
// way (tolerance <= 0: DefaultTolerance); otherwise ErrBadSignature or
// ErrStaleSignature, wrapped. Dedupe accepted events by their id: the same
// event may be delivered more than once.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: malformed header", ErrBadSignature)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one timestamp", ErrBadSignature)
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return fmt.Errorf("%w: malformed v1 signature", ErrBadSignature)
			}
			sigs = append(sigs, sig)
		}
		// Other keys (a later scheme) are ignored.
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no timestamp", ErrBadSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrBadSignature)
	}
	want := mac(secret, ts, body)
	match := false
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			match = true
		}
	}
	if !match {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s from now", ErrStaleSignature, d.Round(time.Second))
	}
	return nil
}
