package loadgen

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one", []time.Duration{ms(7)}, 50, ms(7)},
		{"p50 of 100", hundred, 50, ms(50)},
		{"p99 of 100", hundred, 99, ms(99)},
		{"p100 of 100", hundred, 100, ms(100)},
		{"p99 of 3 is the max", []time.Duration{ms(1), ms(2), ms(3)}, 99, ms(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestReportOutput(t *testing.T) {
	r := Report{
		Attempts: 10, Auths: 8, Failures: map[Cause]int{CauseTimeout: 1, CauseMPPEMismatch: 1},
		Elapsed: 2 * time.Second, AuthsPerSec: 4, P50: 3 * time.Millisecond, P90: 5 * time.Millisecond,
		P99: 9500 * time.Microsecond, RoundsPerAuth: 7, Resumed: 2, FirstError: "timeout: no answer",
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	// The fields bench/run.sh reads.
	want := map[string]any{
		"auths": 8.0, "failures": 2.0, "auths_per_sec": 4.0, "p50_ms": 3.0, "p90_ms": 5.0,
		"p99_ms": 9.5, "rounds_per_auth": 7.0, "resumed": 2.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (JSON %s)", k, got[k], v, b)
		}
	}
	if c, _ := got["failure_causes"].(map[string]any); c["mppe keys mismatch"] != 1.0 {
		t.Errorf("failure_causes = %v", got["failure_causes"])
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"8 of 10 (2 failed)", "p99 9.5 ms", "failure:         mppe keys mismatch: 1", "first error:"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, text.String())
		}
	}
}
