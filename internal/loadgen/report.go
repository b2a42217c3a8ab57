package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"time"
)

// Cause is why one authentication failed.
type Cause string

// Failure causes.
const (
	CauseTimeout               Cause = "timeout"
	CauseReject                Cause = "access-reject"
	CauseResponseAuthenticator Cause = "bad response authenticator"
	CauseMsgAuthMissing        Cause = "message-authenticator missing"
	CauseMsgAuthNotFirst       Cause = "message-authenticator not first"
	CauseMsgAuthInvalid        Cause = "message-authenticator invalid"
	CauseMPPEMissing           Cause = "mppe keys missing"
	CauseMPPEMalformed         Cause = "mppe keys malformed"
	CauseMPPEMismatch          Cause = "mppe keys mismatch"
	CauseEAP                   Cause = "eap protocol"
	CauseTLS                   Cause = "tls handshake"
	CauseTooManyRounds         Cause = "too many rounds"
	CauseProtocol              Cause = "radius protocol"
	CauseNetwork               Cause = "network"
	CauseCancelled             Cause = "cancelled"
	CauseInternal              Cause = "internal"
)

// failure is an error that carries its Cause.
type failure struct {
	cause Cause
	err   error
}

func (f *failure) Error() string { return string(f.cause) + ": " + f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func fail(c Cause, err error) error {
	var f *failure
	if errors.As(err, &f) {
		return err
	}
	return &failure{cause: c, err: err}
}

func causeOf(err error) Cause {
	var f *failure
	if errors.As(err, &f) {
		return f.cause
	}
	return CauseInternal
}

// Report summarises a run. Latencies are of successful authentications, from
// the first Access-Request to the verified Access-Accept.
type Report struct {
	Attempts      int           // authentications started and finished
	Auths         int           // accepted, with MPPE keys equal to the supplicant's MSK
	Failures      map[Cause]int // failed authentications by cause
	Elapsed       time.Duration
	AuthsPerSec   float64 // Auths / Elapsed
	P50, P90, P99 time.Duration
	RoundsPerAuth float64 // mean Access-Requests per successful authentication
	Resumed       int     // successful authentications that resumed a TLS session
	Retransmits   int     // Access-Requests sent again after a timeout
	// LateMessageAuthenticators counts answers accepted with a valid
	// Message-Authenticator that was not first
	// (Options.AllowLateMessageAuthenticator).
	LateMessageAuthenticators int
	FirstError                string // the first failure, verbatim, to start debugging from
}

// FailureCount is the total number of failed authentications.
func (r Report) FailureCount() int {
	n := 0
	for _, v := range r.Failures {
		n += v
	}
	return n
}

// WriteText writes r for a human.
func (r Report) WriteText(w io.Writer) error {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	var err error
	p := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	p("auths:           %d of %d (%d failed)\n", r.Auths, r.Attempts, r.FailureCount())
	p("elapsed:         %s\n", r.Elapsed.Round(time.Millisecond))
	p("auths/s:         %.1f\n", r.AuthsPerSec)
	p("latency:         p50 %s, p90 %s, p99 %s\n", ms(r.P50), ms(r.P90), ms(r.P99))
	p("rounds per auth: %.2f\n", r.RoundsPerAuth)
	p("resumed:         %d\n", r.Resumed)
	p("retransmits:     %d\n", r.Retransmits)
	if r.LateMessageAuthenticators > 0 {
		p("late msg-auth:   %d answers had Message-Authenticator after other attributes (no BlastRADIUS fix)\n", r.LateMessageAuthenticators)
	}
	for _, c := range slices.Sorted(maps.Keys(r.Failures)) {
		p("failure:         %s: %d\n", c, r.Failures[c])
	}
	if r.FirstError != "" {
		p("first error:     %s\n", r.FirstError)
	}
	return err
}

// MarshalJSON writes the fields scripts use (bench/run.sh): auths, failures
// (total), failure_causes, auths_per_sec, p50_ms, p90_ms, p99_ms,
// rounds_per_auth, resumed, and a few more.
func (r Report) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	causes := make(map[string]int, len(r.Failures))
	for c, n := range r.Failures {
		causes[string(c)] = n
	}
	return json.Marshal(struct {
		Attempts      int            `json:"attempts"`
		Auths         int            `json:"auths"`
		Failures      int            `json:"failures"`
		FailureCauses map[string]int `json:"failure_causes"`
		ElapsedS      float64        `json:"elapsed_s"`
		AuthsPerSec   float64        `json:"auths_per_sec"`
		P50           float64        `json:"p50_ms"`
		P90           float64        `json:"p90_ms"`
		P99           float64        `json:"p99_ms"`
		RoundsPerAuth float64        `json:"rounds_per_auth"`
		Resumed       int            `json:"resumed"`
		Retransmits   int            `json:"retransmits"`
		LateMsgAuth   int            `json:"late_message_authenticators"`
		FirstError    string         `json:"first_error,omitempty"`
	}{
		r.Attempts, r.Auths, r.FailureCount(), causes, r.Elapsed.Seconds(), r.AuthsPerSec,
		ms(r.P50), ms(r.P90), ms(r.P99), r.RoundsPerAuth, r.Resumed, r.Retransmits, r.LateMessageAuthenticators, r.FirstError,
	})
}

// percentile returns the p-th percentile (0..100) of sorted, nearest-rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}
