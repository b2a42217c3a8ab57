package configs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as Go writes durations ("30s",
// "10m", "720h"), or as whole days or years ("90d", "20y"; a year is 365
// days).
type Duration struct{ time.Duration }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		return fmt.Errorf("configs: line %d: %w", n.Line, err)
	}
	d.Duration = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// parseDuration reads a YAML scalar as a Duration. Its errors say what to
// write instead; they carry no position, the caller adds it.
func parseDuration(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("a duration must be a single value like \"30s\", \"10m\" or \"720h\"")
	}
	s := strings.TrimSpace(n.Value)
	if s == "" {
		return 0, nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		if s == "0" {
			return 0, nil
		}
		return 0, fmt.Errorf("%q has no unit; write it like \"%ss\" or \"%sm\"", s, s, s)
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "y": 365 * 24 * time.Hour} {
		if num, ok := strings.CutSuffix(s, suffix); ok {
			k, err := strconv.ParseInt(num, 10, 64)
			if err != nil || k < 0 || k > int64(200*365*24*time.Hour/unit) {
				return 0, fmt.Errorf("%q is not a duration; use whole %s like \"90d\" or \"20y\"", s, map[string]string{"d": "days", "y": "years"}[suffix])
			}
			return time.Duration(k) * unit, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; write it like \"30s\", \"10m\", \"720h\" or \"90d\"", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q is negative; durations must be zero or more", s)
	}
	return v, nil
}
