package radiusd

import (
	"context"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

func TestHasState(t *testing.T) {
	with := radius.New(radius.CodeAccessRequest, []byte("s"))
	rfc2865.UserName_SetString(with, "x")
	rfc2865.State_Set(with, make([]byte, 16))
	bw, _ := with.MarshalBinary()
	without := radius.New(radius.CodeAccessRequest, []byte("s"))
	rfc2865.UserName_SetString(without, "x")
	bo, _ := without.MarshalBinary()
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"with State", bw, true},
		{"without", bo, false},
		{"short", bw[:10], false},
		{"zero-length attribute", append(append([]byte(nil), bo[:20]...), 1, 0, 24, 18), false},
	} {
		if got := hasState(tc.b); got != tc.want {
			t.Errorf("%s: hasState = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A worker takes a conversation under way before new ones, whatever came
// first, and stops only when both queues are drained and closed.
func TestWorkAuthServesResumeFirst(t *testing.T) {
	s := &Server{}
	resume, fresh := make(chan job, 8), make(chan job, 8)
	for range 3 {
		fresh <- job{data: []byte("fresh")}
	}
	resume <- job{data: []byte("resume")}
	close(resume)
	close(fresh)
	var order []string
	h := handlerFunc(func(w responseWriter, r *request) error {
		order = append(order, string(r.raw))
		return nil
	})
	done := make(chan struct{})
	go func() { s.workAuth(context.Background(), resume, fresh, h); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("workAuth did not return after both queues closed")
	}
	if len(order) != 4 || order[0] != "resume" {
		t.Errorf("served %v; want the resumed conversation first, then the 3 new ones", order)
	}
}
