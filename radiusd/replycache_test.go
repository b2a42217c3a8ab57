package radiusd

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

func TestReplyCache(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	c := newReplyCache(2, time.Minute)
	c.now = func() time.Time { return now }
	nas := netip.MustParseAddrPort("10.0.0.5:40000")
	k := replyKey{remote: nas, identifier: 7, authenticator: [16]byte{1}}

	if st, _ := c.begin(k); st != replyNew {
		t.Fatalf("first sight: %v", st)
	}
	if st, _ := c.begin(k); st != replyInProgress {
		t.Fatalf("while in flight: %v", st)
	}
	c.finish(k, []byte("reply"), now.Add(time.Second)) // a delayed reject
	if st, _ := c.begin(k); st != replyInProgress {
		t.Fatalf("before the delayed reply is due: %v", st)
	}
	now = now.Add(time.Second)
	if st, b := c.begin(k); st != replyCached || !bytes.Equal(b, []byte("reply")) {
		t.Fatalf("retransmission: %v %q", st, b)
	}

	// Same Identifier, new authenticator: a new request.
	k2 := k
	k2.authenticator[0] = 2
	if st, _ := c.begin(k2); st != replyNew {
		t.Fatalf("new authenticator: %v", st)
	}
	// Abandoned (dropped) requests are run again.
	c.abandon(k2)
	if st, _ := c.begin(k2); st != replyNew {
		t.Fatalf("after abandon: %v", st)
	}
	// Bounded: a third key evicts the oldest.
	k3 := k
	k3.remote = netip.MustParseAddrPort("10.0.0.6:40000")
	c.begin(k3)
	c.finish(k3, []byte("reply 3"), now)
	c.finish(k2, []byte("reply 2"), now)
	if c.len() != 2 {
		t.Errorf("cache holds %d entries, bound is 2", c.len())
	}
	if st, _ := c.begin(k); st != replyNew {
		t.Errorf("the oldest answer was kept over the bound: %v", st)
	}
}
