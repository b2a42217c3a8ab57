package radiusd

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// dropCause says why a packet got no answer. Each is a label value of
// keycard_radius_dropped_total.
type dropCause string

const (
	dropUnknownNAS     dropCause = "unknown_nas" // source address is no NAS
	dropShort          dropCause = "short"       // under 20 bytes or shorter than its Length
	dropOversized      dropCause = "oversized"   // over 4096 bytes
	dropMalformed      dropCause = "malformed"   // bad Length or attributes
	dropBadCode        dropCause = "bad_code"    // a code that does not belong on this port
	dropBadMsgAuth     dropCause = "bad_message_authenticator"
	dropMissingMsgAuth dropCause = "missing_message_authenticator"
	dropInProgress     dropCause = "duplicate_in_progress" // retransmission of a request still being answered
	dropOverloaded     dropCause = "overloaded"            // every worker busy and the queue full
	dropEAPMalformed   dropCause = "eap_malformed"         // EAP-Message missing, cut or too long
	dropEAPBusy        dropCause = "eap_busy"              // another packet of the conversation is being processed
	dropInternal       dropCause = "internal"              // an answer could not be built

	// Accounting port (RFC 2866).
	dropBadRequestAuth  dropCause = "bad_request_authenticator" // Accounting-Request authenticator does not match the secret
	dropAcctMalformed   dropCause = "acct_malformed"            // no Acct-Status-Type, or no Acct-Session-Id for a session record
	dropAcctStoreFailed dropCause = "acct_store_failed"         // the record could not be committed: no answer, so the NAS retries
)

var allDropCauses = []dropCause{dropUnknownNAS, dropShort, dropOversized, dropMalformed, dropBadCode,
	dropBadMsgAuth, dropMissingMsgAuth, dropInProgress, dropOverloaded, dropEAPMalformed, dropEAPBusy, dropInternal,
	dropBadRequestAuth, dropAcctMalformed, dropAcctStoreFailed}

// dropError is what a handler returns when the packet gets no answer.
type dropError struct {
	cause dropCause
	err   error // detail for the log; may be nil
}

func (e *dropError) Error() string {
	if e.err == nil {
		return "radiusd: dropped: " + string(e.cause)
	}
	return fmt.Sprintf("radiusd: dropped: %s: %v", e.cause, e.err)
}

func (e *dropError) Unwrap() error { return e.err }

func drop(cause dropCause, err error) error { return &dropError{cause: cause, err: err} }

// causeOf returns the drop cause of err (dropInternal for other errors).
func causeOf(err error) dropCause {
	var de *dropError
	if errors.As(err, &de) {
		return de.cause
	}
	return dropInternal
}

// dropLog logs a dropped packet at most once per cause per source per
// interval, so a misconfigured or hostile sender cannot flood the log. The
// table is bounded: when full, stale entries go; if none are stale, the
// drop is counted but not logged.
type dropLog struct {
	logger   *slog.Logger
	now      func() time.Time
	interval time.Duration
	max      int

	mu   sync.Mutex
	last map[dropLogKey]time.Time
}

type dropLogKey struct {
	cause  dropCause
	source string // NAS name, or the address for an unknown source
}

func newDropLog(logger *slog.Logger, now func() time.Time) *dropLog {
	return &dropLog{logger: logger, now: now, interval: time.Minute, max: 4096, last: map[dropLogKey]time.Time{}}
}

// allow reports whether a drop of cause from source should be logged now.
func (d *dropLog) allow(cause dropCause, source string) bool {
	now := d.now()
	k := dropLogKey{cause, source}
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.last[k]; ok && now.Sub(t) < d.interval {
		return false
	}
	if _, ok := d.last[k]; !ok && len(d.last) >= d.max {
		for k, t := range d.last {
			if now.Sub(t) >= d.interval {
				delete(d.last, k)
			}
		}
		if len(d.last) >= d.max {
			return false
		}
	}
	d.last[k] = now
	return true
}

func (d *dropLog) log(cause dropCause, source, remote string, err error) {
	if !d.allow(cause, source) {
		return
	}
	attrs := []any{"cause", string(cause), "source", source, "remote", remote, "note", "further drops of this cause from this source are not logged for a minute"}
	var de *dropError
	if errors.As(err, &de) && de.err != nil {
		attrs = append(attrs, "err", de.err.Error())
	} else if de == nil && err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	d.logger.Warn("radiusd: packet dropped", attrs...)
}
