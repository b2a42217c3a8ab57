package main

import (
	"fmt"
	"strings"
	"time"
)

// parseWhen reads a check-in or check-out given either as a time
// ("2026-11-24T11:00", "2026-11-24 11:00", RFC 3339) in the local zone, or as
// a duration from now ("20s", "3h", "2d"), so a test can make a stay that
// ends in 20 seconds and staff can type "3d".
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty time")
	}
	if s == "now" {
		return now, nil
	}
	if d, err := parseDays(s); err == nil {
		return now.Add(d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if _, err := time.Parse("2006-01-02", s); err == nil {
		// Midnight would cut the guest's last morning: ask for the hour.
		return time.Time{}, fmt.Errorf("%q has no time of day; write it with the hour, like %sT11:00", s, s)
	}
	return time.Time{}, fmt.Errorf("%q is neither a time (2026-11-24T11:00) nor a duration from now (20s, 3h, 2d)", s)
}

// parseDays is time.ParseDuration plus a "d" suffix for whole days.
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err != nil || fmt.Sprint(days) != n || days < 0 {
			return 0, fmt.Errorf("bad day count %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}
