package radiusd

import (
	"context"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"keycard/vouchers"
)

type onlineMap map[int64]time.Time

func (m onlineMap) OnlineDevices(int64, time.Time) map[int64]time.Time {
	out := make(map[int64]time.Time, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestSimultaneousUse(t *testing.T) {
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	online := onlineMap{
		1: now.Add(-3 * time.Hour), // the longest online
		2: now.Add(-time.Hour),
		3: now.Add(-2 * time.Hour),
	}
	tests := []struct {
		name      string
		device    int64
		maxOnline int
		oldest    bool
		allowed   bool
		evict     []int64
	}{
		{"no cap", 9, 0, false, true, nil},
		{"under the cap", 9, 4, false, true, nil},
		{"at the cap: refused", 9, 3, false, false, nil},
		{"roaming device counts once", 2, 3, false, true, nil},
		{"at the cap: the oldest goes", 9, 3, true, true, []int64{1}},
		{"well over the cap: the two oldest go", 9, 2, true, true, []int64{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &tlsPolicy{now: func() time.Time { return now }, online: online,
				authorizer: authorizerFunc(func(context.Context, *x509.Certificate, time.Time) (vouchers.Decision, error) {
					return vouchers.Decision{Allowed: true, Reason: vouchers.ReasonOK, Remaining: time.Hour,
						Stay:   vouchers.Stay{ID: 5},
						Device: vouchers.Device{ID: tt.device},
						Policy: vouchers.Policy{Name: "standard", MaxOnline: tt.maxOnline, DisconnectOldest: tt.oldest}}, nil
				})}
			c := &conversation{}
			d, err := p.authorize(context.Background(), c, &x509.Certificate{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tt.allowed {
				t.Fatalf("allowed = %v (%q), want %v", d.Allowed, d.Reason, tt.allowed)
			}
			if !tt.allowed && (d.Reason != reasonTooManyOnline || d.SecondsLeft() != 0) {
				t.Errorf("refusal %q with %d s left; want %q", d.Reason, d.SecondsLeft(), reasonTooManyOnline)
			}
			if got := c.evictions(); !slices.Equal(got, tt.evict) {
				t.Errorf("evict %v, want %v", got, tt.evict)
			}
			if again := c.evictions(); again != nil {
				t.Errorf("evictions returned twice: %v", again)
			}
		})
	}
}
