package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// AcctKind is the kind of an accounting record; its values are RFC 2866's
// Acct-Status-Type.
type AcctKind int

// Accounting record kinds.
const (
	AcctStart   AcctKind = 1
	AcctStop    AcctKind = 2
	AcctInterim AcctKind = 3
)

func (k AcctKind) String() string {
	switch k {
	case AcctStart:
		return "start"
	case AcctStop:
		return "stop"
	case AcctInterim:
		return "interim"
	}
	return fmt.Sprintf("acct-status-%d", int(k))
}

// MarshalText writes the kind's name (for JSON).
func (k AcctKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (k *AcctKind) UnmarshalText(b []byte) error {
	for _, c := range []AcctKind{AcctStart, AcctStop, AcctInterim} {
		if string(b) == c.String() {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("loadgen: unknown accounting record kind %q", b)
}

// AcctAck is one accounting record the server acknowledged: the session,
// the kind, and the cumulative counters the record carried (octets with
// their Gigawords joined).
type AcctAck struct {
	Session          int           `json:"session"` // AcctOptions.FirstSession + index
	AcctSessionID    string        `json:"acct_session_id"`
	Kind             AcctKind      `json:"kind"`
	CallingStationID string        `json:"calling_station_id"`
	InputOctets      uint64        `json:"input_octets"`
	OutputOctets     uint64        `json:"output_octets"`
	InputPackets     uint64        `json:"input_packets"`
	OutputPackets    uint64        `json:"output_packets"`
	SessionTime      time.Duration `json:"-"`
	Latency          time.Duration `json:"-"` // first send to the verified Accounting-Response
}

// MarshalJSON adds session_seconds to the tagged fields.
func (a AcctAck) MarshalJSON() ([]byte, error) {
	type plain AcctAck
	return json.Marshal(struct {
		plain
		SessionSeconds int64 `json:"session_seconds"`
	}{plain(a), int64(a.SessionTime / time.Second)})
}

// AcctReport summarises an accounting run. A record is one
// Accounting-Request, sent once and retransmitted unchanged until it is
// acknowledged or its retries run out; latencies are of acknowledged
// records, from the first send to the verified Accounting-Response.
type AcctReport struct {
	Sessions      int           `json:"sessions"`           // sessions whose Start was acknowledged
	Completed     int           `json:"sessions_completed"` // sessions whose Stop was acknowledged
	Records       int           `json:"records"`            // records sent and finished, acknowledged or failed
	Acked         int           `json:"acked"`              // records acknowledged
	Sent          int           `json:"packets_sent"`       // Accounting-Requests on the wire, retransmissions included
	Retransmits   int           `json:"retransmits"`
	Failures      map[Cause]int `json:"failure_causes"` // records not acknowledged, by cause
	Elapsed       time.Duration `json:"-"`
	PacketsPerSec float64       `json:"packets_per_sec"` // Acked / Elapsed
	P50           time.Duration `json:"-"`
	P99           time.Duration `json:"-"`
	FirstError    string        `json:"first_error,omitempty"`
}

// FailureCount is the number of records not acknowledged.
func (r AcctReport) FailureCount() int {
	n := 0
	for _, v := range r.Failures {
		n += v
	}
	return n
}

// MarshalJSON writes the tagged fields and failures (total), elapsed_s,
// p50_ms and p99_ms, which bench/run.sh reads.
func (r AcctReport) MarshalJSON() ([]byte, error) {
	type plain AcctReport
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if r.Failures == nil {
		r.Failures = map[Cause]int{}
	}
	return json.Marshal(struct {
		plain
		Failures int     `json:"failures"`
		ElapsedS float64 `json:"elapsed_s"`
		P50      float64 `json:"p50_ms"`
		P99      float64 `json:"p99_ms"`
	}{plain(r), r.FailureCount(), r.Elapsed.Seconds(), ms(r.P50), ms(r.P99)})
}

// WriteText writes r for a human.
func (r AcctReport) WriteText(w io.Writer) error {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	var err error
	p := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	p("records:         %d acknowledged of %d (%d failed)\n", r.Acked, r.Records, r.FailureCount())
	p("sessions:        %d started, %d stopped\n", r.Sessions, r.Completed)
	p("packets sent:    %d (%d retransmissions)\n", r.Sent, r.Retransmits)
	p("elapsed:         %s\n", r.Elapsed.Round(time.Millisecond))
	p("acked/s:         %.1f\n", r.PacketsPerSec)
	p("latency:         p50 %s, p99 %s\n", ms(r.P50), ms(r.P99))
	for _, c := range slices.Sorted(maps.Keys(r.Failures)) {
		p("failure:         %s: %d\n", c, r.Failures[c])
	}
	if r.FirstError != "" {
		p("first error:     %s\n", r.FirstError)
	}
	return err
}
